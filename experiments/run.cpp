// Executing a study's jobs: task images held once per process, one training per job through the
// training plugin, results written whole, finished jobs skipped on reruns.
#include "run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <list>
#include <set>
#include <map>
#include <unordered_map>

#include "core/error.hpp"
#include "core/random.hpp"
#include "mpi/world.hpp"
#include "folds.hpp"
#include "io/file_digest.hpp"
#include "io/output_files.hpp"
#include "metrics.hpp"
#include "results.hpp"
#include "task_data.hpp"
#include "trainer.hpp"

namespace taskfp::experiments {

namespace fs = std::filesystem;

namespace {

// Task images in memory, the least recently used dropped when more than `budget` bytes are held.
class TaskCache {
 public:
  TaskCache(const std::string& taskset, const ImageProtocol& protocol, std::size_t budget)
      : protocol_(protocol), budget_(budget) {
    for (auto& spec : read_image_taskset(taskset))
      if (spec.shrink == 0) specs_[spec.name] = std::move(spec);
  }
  const TaskData& get(const std::string& name) {
    for (auto it = held_.begin(); it != held_.end(); ++it)
      if (it->name == name) {
        held_.splice(held_.begin(), held_, it);
        return held_.front();
      }
    const auto spec = specs_.find(name);
    if (spec == specs_.end()) throw InputError(fmt::format("task '{}' is not in the image task set", name));
    held_.push_front(load_task_data(spec->second, protocol_, budget_));
    std::size_t bytes = 0;
    for (auto it = held_.begin(); it != held_.end();) {
      bytes += it->pixels.size();
      if (bytes > budget_ && it != held_.begin()) it = held_.erase(it);
      else ++it;
    }
    return held_.front();
  }

 private:
  ImageProtocol protocol_;
  std::size_t budget_;
  std::unordered_map<std::string, ImageTaskSpec> specs_;
  std::list<TaskData> held_;
};

// The protocol's model of a full task, which pretraining starts from.
std::string source_model_path(const std::string& study_dir, const std::string& task, int seed) {
  return (fs::path(study_dir) / "models" / fmt::format("{}-r{}.pt", task, seed)).string();
}

// Whether a job keeps its model: the protocol's training of a full task, where pretraining runs.
bool keeps_model(const ExperimentConfig& config, const Job& job) {
  return job.kind == JobKind::Train && config.scenario(StudyKind::Pretraining).enabled &&
         job.architecture == config.training.architecture && !job.task.ends_with(config.shrunk_suffix());
}

std::string digest_of(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
  std::string text;
  for (auto i : a) text += std::to_string(i) + ',';
  text += '|';
  for (auto i : b) text += std::to_string(i) + ',';
  return text_digest(text);
}

class Runner {
 public:
  Runner(const StudyPlan& plan, const ExperimentConfig& config, const RunOptions& options)
      : plan_(plan), config_(config), o_(options),
        cache_(config.images, config.training.images, options.memory) {
    if (config.training.pretrained == "imagenet") {
      if (o_.imagenet.empty())
        throw InputError("the protocol trains from ImageNet weights (training: pretrained: imagenet): give them with "
                         "--weights (scripts/export_backbone.py writes them), or set pretrained: random");
      imagenet_ = read_weights(o_.imagenet);
    }
  }

  // The job's result, trained now. Throws InputError naming the job on failure.
  JobResult run(const Job& job) {
    try {
      return run_job(job);
    } catch (const InputError& e) {
      throw InputError(fmt::format("job {}: {}", job.id(), e.what()));
    }
  }

  std::string model_path(const std::string& task, int seed) const { return source_model_path(o_.study_dir, task, seed); }

 private:
  // A task variant's folds, its images copied out of the cache (which may drop the task later).
  struct Split {
    std::string name;  // the task (not the variant)
    int classes = 0;
    TaskSplit split;
    std::vector<std::uint8_t> train_pixels, eval_pixels;
    std::vector<int> train_labels, eval_labels;
    TaskTensor train, evaluation;
  };

  // The task variant's folds over its images (shrunk when the name says so).
  void prepare(const std::string& variant, Split& s) {
    const bool shrunk = plan_.is_shrunk(variant);
    const std::string base = plan_.base_task(variant);
    const TaskData& data = cache_.get(base);
    s.name = base;
    s.classes = static_cast<int>(data.classes.size());
    s.split = split_task(data.labels, s.classes, config_, shrunk, base);
    s.train = task_view(data, s.split.train, s.train_pixels, s.train_labels);
    s.evaluation = task_view(data, s.split.evaluation, s.eval_pixels, s.eval_labels);
  }

  TrainRequest request(const Job& job, const Split& target) const {
    const auto& t = config_.training;
    TrainRequest r;
    r.architecture = job.architecture;
    r.zoo_dir = o_.zoo_dir;
    r.imagenet = t.pretrained == "imagenet" && job.architecture == "resnet34" ? &imagenet_ : nullptr;
    r.train = target.train;
    r.evaluation = target.evaluation;
    r.epochs = job.epochs;
    r.batch = t.batch;
    r.lr = t.lr;
    r.beta1 = t.beta1;
    r.beta2 = t.beta2;
    r.weight_decay = t.weight_decay;
    r.step = t.step;
    r.gamma = t.gamma;
    r.crop = t.images.crop;
    r.flip = t.images.flip;
    r.normalize_imagenet = t.images.normalize == "imagenet";
    r.seed = seed_for(static_cast<std::uint64_t>(job.seed), job.id());
    r.device = o_.device;
    r.local_rank = mpi::world().local_rank;
    r.precision = t.precision;
    r.threads = o_.threads;
    return r;
  }

  // What every result file records of its job.
  JobResult job_result(const Job& job) const {
    JobResult r;
    r.job = job.id();
    r.kind = job_kind_key(job.kind);
    r.task = job.task;
    r.source = job.source;
    r.architecture = job.architecture;
    r.seed = job.seed;
    r.protocol = protocol_of(config_, job.kind);
    r.version = TASKFP_VERSION;
    return r;
  }

  JobResult result_of(const Job& job, const Split& target, const TrainOutcome& out) const {
    JobResult r = job_result(job);
    r.device = out.device;
    r.precision = out.precision;
    r.threads = o_.threads;
    r.data = fmt::format("{} training, {} evaluation images of {}; indices {}", target.split.train.size(),
                         target.split.evaluation.size(), target.name,
                         digest_of(target.split.train, target.split.evaluation));
    r.epochs = job.epochs;
    r.epoch_loss = out.epoch_loss;
    r.classes = target.classes;
    r.labels = target.eval_labels;
    r.scores = out.scores;
    for (const auto m : config_.metrics) r.p[metric_name(m)] = outcome(m, r.scores, r.labels, r.classes);
    r.seconds = out.seconds;
    r.images = out.images;
    return r;
  }

  JobResult run_job(const Job& job) {
    const auto& aug = config_.scenario(StudyKind::Augmentation);
    if (job.kind == JobKind::PolicySearch && !aug.policies.empty()) {
      // A published policy instead of a search: recorded with where it came from; no images, no
      // training.
      const auto path = find_published_policy(aug.policies, job.task, job.seed);
      JobResult result = job_result(job);
      result.data = "published policy " + path;
      result.policy = policy_json(read_policy(path));
      return result;
    }
    const auto& plugin = trainer_plugin();
    Split target;
    prepare(job.task, target);
    TrainRequest r = request(job, target);
    std::optional<PendingOutput> model;
    Split source;
    switch (job.kind) {
      case JobKind::Train:
        // The protocol's model of a full task is kept where the pretraining scenario needs it.
        if (keeps_model(config_, job)) {
          fs::create_directories(fs::path(model_path(job.task, job.seed)).parent_path());
          model.emplace(model_path(job.task, job.seed));
          r.save_model = model->temporary();
        }
        break;
      case JobKind::Pretrain:
        r.init_model = model_path(job.source, job.seed);
        if (!fs::exists(r.init_model))
          throw InputError(fmt::format("the source model {} is missing: run the source's job {} first (stage 1)",
                                       r.init_model, plan_.jobs[job.needs.front()].id()));
        break;
      case JobKind::Augment: {
        // The source's searched policy, read once per source and seed.
        const std::size_t need = job.needs.front();
        auto it = policies_.find(need);
        if (it == policies_.end()) {
          const Job& search = plan_.jobs[need];
          std::string why;
          const auto found = read_result(result_path(o_.study_dir, search.id()), search.id(),
                                         protocol_of(config_, JobKind::PolicySearch), why);
          if (!found)
            throw InputError(fmt::format("the policy of source '{}' is missing ({}): run job {} first (stage 1)",
                                         job.source, why, search.id()));
          it = policies_.emplace(need, parse_policy(found->policy, result_path(o_.study_dir, search.id()))).first;
        }
        r.policy = &it->second;
        break;
      }
      case JobKind::CoTrain:
        prepare(job.source, source);
        r.source = source.train;
        break;
      case JobKind::PolicySearch: return search_policy(job, target, r);
    }
    const auto out = plugin.train(r, {});
    auto result = result_of(job, target, out);
    if (model) model->commit();
    return result;
  }

  // Successive halving over random policies: every survivor trained for the search's epochs on the
  // source, scored on its evaluation fold by the first metric; the best `keep` share survives,
  // until one is left (ties: the earlier candidate).
  JobResult search_policy(const Job& job, const Split& source, TrainRequest r) {
    const auto& search = config_.scenario(StudyKind::Augmentation).search;
    std::vector<AugmentPolicy> candidates;
    for (int k = 0; k < search.candidates; ++k)
      candidates.push_back(random_policy(seed_for(r.seed, fmt::format("policy {}", k)), config_.training.images.size));
    std::vector<std::size_t> alive(candidates.size());
    for (std::size_t i = 0; i < alive.size(); ++i) alive[i] = i;
    r.epochs = search.epochs;
    std::map<std::size_t, std::pair<double, TrainOutcome>> last;
    const auto metric = config_.metrics.front();
    const auto classes = source.classes;
    double seconds = 0;
    std::uint64_t images = 0;
    while (true) {
      last.clear();
      for (auto i : alive) {
        r.policy = &candidates[i];
        auto out = trainer_plugin().train(r, {});
        seconds += out.seconds;
        images += out.images;
        const double score = outcome(metric, out.scores, source.eval_labels, classes);
        last.emplace(i, std::make_pair(score, std::move(out)));
      }
      if (alive.size() == 1) break;
      std::stable_sort(alive.begin(), alive.end(), [&](auto a, auto b) { return last.at(a).first > last.at(b).first; });
      alive.resize(std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(alive.size() * search.keep))));
      if (alive.size() == last.size()) alive.resize(alive.size() - 1);  // keep = 1: still make progress
    }
    const auto best = alive.front();
    auto result = result_of(job, source, last.at(best).second);
    result.policy = policy_json(candidates[best]);
    result.seconds = seconds;
    result.images = images;
    return result;
  }

  const StudyPlan& plan_;
  const ExperimentConfig& config_;
  RunOptions o_;
  TaskCache cache_;
  std::vector<NamedArray> imagenet_;
  std::map<std::size_t, AugmentPolicy> policies_;  // by the index of the policy search job
};

}  // namespace

RunReport run_study(const StudyPlan& plan, const ExperimentConfig& config, const RunOptions& options,
                    const RunProgress& progress) {
  if (config.images.empty())
    throw InputError("running a study needs its images: give the image task set (tasks: images: in the config, or -t)");
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw InputError(fmt::format("shard {} of {}: a shard is 0 .. shards - 1", options.shard, options.shards));
  // TorchScript members of the zoo must be there before the first training.
  std::set<std::string> archs;
  for (const auto& j : plan.jobs) archs.insert(j.architecture);
  for (const auto& a : archs)
    if (!is_native_architecture(a) && (options.zoo_dir.empty() || !fs::exists(fs::path(options.zoo_dir) / (a + ".pt"))))
      throw InputError(missing_zoo_model(a, options.zoo_dir));
  fs::create_directories(options.study_dir);
  const auto& world = mpi::world();
  RunReport report;
  std::unique_ptr<Runner> runner;  // made at the first job to run: a rerun with nothing to do loads nothing
  std::size_t trained = 0;
  std::set<std::size_t> finished;  // jobs found finished as others' needs

  auto do_job = [&](const Job& job) {
    const auto path = result_path(options.study_dir, job.id());
    std::string why;
    if (read_result(path, job.id(), protocol_of(config, job.kind), why)) {
      // A training finished before pretraining was configured has no model to start from.
      if (!keeps_model(config, job) || fs::exists(source_model_path(options.study_dir, job.task, job.seed))) {
        ++report.skipped;
        return;
      }
      why = "without the model file pretraining starts from";
    }
    for (auto n : job.needs) {
      if (finished.count(n)) continue;  // many jobs need the same one: its file is read once
      std::string need_why;
      const Job& need = plan.jobs[n];
      if (read_result(result_path(options.study_dir, need.id()), need.id(), protocol_of(config, need.kind), need_why)) {
        finished.insert(n);
      } else {
        ++report.waiting;
        if (report.first_waiting.empty())
          report.first_waiting = fmt::format("{} waits for {} ({})", job.id(), need.id(), need_why);
        if (progress) progress(report.skipped + report.done + report.waiting, report.planned,
                               fmt::format("{}: waiting for {} ({})", job.id(), need.id(), need_why));
        return;
      }
    }
    if (options.max_jobs > 0 && trained >= options.max_jobs) {
      ++report.waiting;
      return;
    }
    if (why != "missing") ++report.redone;
    if (!runner) runner = std::make_unique<Runner>(plan, config, options);
    const auto result = runner->run(job);
    write_result(path, result);
    ++trained;
    ++report.done;
    if (progress) {
      std::string ps;
      for (const auto& [m, v] : result.p) ps += fmt::format(" {} {:.4f}", m, v);
      progress(report.skipped + report.done + report.waiting, report.planned,
               fmt::format("{}:{} ({:.1f} s{})", job.id(), ps, result.seconds,
                           why == "missing" ? std::string() : ", redone: result was " + why));
    }
  };

  for (int stage : {1, 2}) {
    if (options.stage != 0 && options.stage != stage) continue;
    std::vector<std::size_t> mine;
    for (std::size_t k = 0, at = 0; k < plan.jobs.size(); ++k)
      if (plan.jobs[k].stage() == stage && at++ % static_cast<std::size_t>(options.shards) ==
                                               static_cast<std::size_t>(options.shard))
        mine.push_back(k);
    report.planned += mine.size();
    if (world.distributed()) {
      // Every rank takes the next job of the stage when it is free; the stage ends for all before
      // the next one starts (its jobs need the first stage's results).
      mpi::SharedCounter next;
      for (std::size_t i = next.next(); i < mine.size(); i = next.next()) do_job(plan.jobs[mine[i]]);
      mpi::barrier();
    } else {
      for (auto k : mine) do_job(plan.jobs[k]);
    }
  }
  return report;
}

}  // namespace taskfp::experiments
