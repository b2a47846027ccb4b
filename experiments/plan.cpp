// Planning a transfer study: tasks and their sizes, the deduplicated job graph, its cost.
#include "plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <unordered_map>

#include "core/error.hpp"
#include "folds.hpp"
#include "images/image_taskset.hpp"

namespace taskfp::experiments {

std::string job_kind_key(JobKind k) {
  switch (k) {
    case JobKind::Train: return "train";
    case JobKind::PolicySearch: return "policy-search";
    case JobKind::Augment: return "augment";
    case JobKind::Pretrain: return "pretrain";
    case JobKind::CoTrain: return "cotrain";
  }
  return "?";
}

std::string protocol_of(const ExperimentConfig& config, JobKind k) {
  return config.protocol(k == JobKind::PolicySearch || k == JobKind::Augment);
}

std::string Job::id() const {
  switch (kind) {
    case JobKind::Train: return fmt::format("train/{}/{}/r{}", architecture, task, seed);
    case JobKind::PolicySearch: return fmt::format("policy-search/{}/r{}", task, seed);
    default: return fmt::format("{}/{}/{}/r{}", job_kind_key(kind), source, task, seed);
  }
}

namespace {

std::vector<StudyTask> tasks_from_sizes(const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("task sizes {}: cannot be read ({})", path, e.what()));
  }
  if (!doc.IsMap()) throw InputError(fmt::format("task sizes {}: expected a map task: [samples, classes]", path));
  std::vector<StudyTask> tasks;
  for (const auto& kv : doc) {
    StudyTask t;
    t.name = kv.first.as<std::string>();
    std::vector<long long> v;
    try {
      v = kv.second.as<std::vector<long long>>();
    } catch (const YAML::Exception&) {
    }
    if (v.size() != 2 || v[0] < 1 || v[1] < 1)
      throw InputError(fmt::format("task sizes {}: '{}' is not [samples, classes] (two positive integers)", path, t.name));
    t.samples = static_cast<std::size_t>(v[0]);
    t.classes = static_cast<std::size_t>(v[1]);
    tasks.push_back(std::move(t));
  }
  return tasks;
}

std::vector<StudyTask> tasks_from_images(const std::string& path, std::set<std::string>& shrunk_variants) {
  std::vector<StudyTask> tasks;
  for (const auto& spec : read_image_taskset(path)) {
    if (spec.shrink > 0) {  // fingerprint variants; the study shrinks by its folds
      shrunk_variants.insert(spec.name);
      continue;
    }
    const auto images = list_task_images(spec);
    StudyTask t;
    t.name = spec.name;
    t.samples = images.labels.size();
    t.classes = images.classes.size();
    t.labels = images.labels;
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) throw InputError(fmt::format("task set {} lists no tasks", path));
  return tasks;
}

TaskInfoTable info_of(const std::vector<StudyTask>& tasks) {
  std::vector<TaskInfo> rows;
  for (const auto& t : tasks) {
    TaskInfo i;
    i.name = t.name;
    i.num_samples = static_cast<double>(t.samples);
    i.num_classes = static_cast<double>(t.classes);
    rows.push_back(std::move(i));
  }
  return TaskInfoTable(std::move(rows), "the study's tasks");
}

// Training and evaluation sizes of a task variant: exact from its folds where the labels are
// known, else the fold rule applied to the total (per-class rounding may move a few samples).
struct VariantSize {
  std::size_t train = 0, evaluation = 0;
};

}  // namespace

std::vector<StudyTask> read_study_tasks(const ExperimentConfig& config, const TaskSet* rules,
                                        std::vector<std::string>* notes) {
  std::vector<StudyTask> tasks;
  std::string from;
  std::set<std::string> shrunk_variants;
  if (!config.images.empty()) {
    tasks = tasks_from_images(config.images, shrunk_variants);
    from = config.images;
  } else if (!config.sizes.empty()) {
    tasks = tasks_from_sizes(config.sizes);
    from = config.sizes;
  } else {
    throw InputError(fmt::format("experiment config {}: no tasks: give an image task set (tasks: images:, or -t) "
                                 "or task sizes (tasks: sizes:)",
                                 config.path.empty() ? std::string("(defaults)") : config.path));
  }
  for (auto& t : tasks) t.shrinkable = is_shrinkable(t.samples, t.classes, config.shrink);
  if (notes && !config.images.empty()) {
    const std::string suffix = config.shrunk_suffix();
    std::vector<std::string> lacking;
    for (const auto& t : tasks)
      if (t.shrinkable && !shrunk_variants.count(t.name + suffix)) lacking.push_back(t.name);
    if (!lacking.empty())
      notes->push_back(fmt::format("{} of the {} shrinkable tasks have no '<task>{}' variant in {} (e.g. '{}'): "
                                   "without it `taskfp extract` makes no fingerprints of the shrunk targets, which "
                                   "`taskfp evaluate` needs; add 'shrink: [{}]' to those tasks",
                                   lacking.size(), std::count_if(tasks.begin(), tasks.end(), [](const StudyTask& t) {
                                     return t.shrinkable;
                                   }),
                                   suffix, config.images, lacking.front(), config.shrink.size));
  }
  if (rules) {
    std::set<std::string> have;
    for (const auto& t : tasks) have.insert(t.name);
    for (const auto& t : tasks)
      if (std::find(rules->all().begin(), rules->all().end(), t.name) == rules->all().end())
        throw InputError(fmt::format("task '{}' of {} is not in the rules' task set (development or validation)",
                                     t.name, from));
    for (const auto& name : rules->all())
      if (!have.count(name))
        throw InputError(fmt::format("task '{}' of the rules' task set is not in {}", name, from));
    // The rules' order (development, then validation), as the paper's matrices.
    std::vector<StudyTask> ordered;
    for (const auto& name : rules->all())
      for (auto& t : tasks)
        if (t.name == name) ordered.push_back(std::move(t));
    tasks = std::move(ordered);
  }
  return tasks;
}

StudyPlan plan_study(const ExperimentConfig& config, const std::vector<StudyTask>& tasks, const TaskSet& rules) {
  StudyPlan plan;
  plan.name = config.name;
  plan.tasks = tasks;
  plan.shrunk_suffix = config.shrunk_suffix();
  const auto& tr = config.training;
  const auto info = info_of(tasks);

  // Sizes of every variant, checking folds and shrinking on the labels where they are known.
  std::unordered_map<std::string, VariantSize> sizes;  // variant name -> sizes
  std::unordered_map<std::string, const StudyTask*> by_name;
  for (const auto& t : tasks) {
    by_name[t.name] = &t;
    for (bool shrunk : {false, true}) {
      if (shrunk && !t.shrinkable) continue;
      VariantSize v;
      if (!t.labels.empty()) {
        const auto split = split_task(t.labels, static_cast<int>(t.classes), config, shrunk, t.name);
        v = {split.train.size(), split.evaluation.size()};
      } else {
        if (t.classes < 2)
          throw InputError(fmt::format("task '{}' has {} class: its AUROC is undefined", t.name, t.classes));
        if (t.samples < static_cast<std::size_t>(config.folds) * t.classes)
          throw InputError(fmt::format("task '{}': {} samples of {} classes cannot fill {} folds with every class",
                                       t.name, t.samples, t.classes, config.folds));
        v.evaluation = static_cast<std::size_t>(std::nearbyint(static_cast<double>(t.samples) / config.folds));
        v.train = shrunk ? config.shrink.size : t.samples - v.evaluation;
      }
      sizes[shrunk ? plan.shrunk_name(t.name) : t.name] = v;
    }
  }

  std::map<std::string, std::size_t> index;  // job id -> position
  auto add = [&](Job job) -> std::size_t {
    const auto id = job.id();
    if (const auto it = index.find(id); it != index.end()) return it->second;
    index[id] = plan.jobs.size();
    plan.jobs.push_back(std::move(job));
    return plan.jobs.size() - 1;
  };
  auto train_job = [&](const std::string& arch, const StudyTask& t, bool shrunk, int seed) {
    Job j;
    j.kind = JobKind::Train;
    j.task = shrunk ? plan.shrunk_name(t.name) : t.name;
    j.architecture = arch;
    j.seed = seed;
    j.epochs = tr.epochs.epochs(t.samples, tr.batch, shrunk);
    const auto& v = sizes.at(j.task);
    j.train_samples = v.train;
    j.evaluation_samples = v.evaluation;
    j.images = static_cast<std::uint64_t>(j.epochs) * j.train_samples + j.evaluation_samples;
    return add(std::move(j));
  };
  // The tables a scenario has target t in (false: full, true: shrunk), and the variants it
  // trains t on for them: a task that cannot shrink appears in the shrunk tables with its full
  // training.
  auto tables_of = [&](const ScenarioConfig& sc, const StudyTask& t) {
    std::vector<bool> out;
    if (sc.max_target_classes > 0 && t.classes > sc.max_target_classes) return out;
    if (sc.targets.full) out.push_back(false);
    if (sc.targets.shrunk) out.push_back(true);
    return out;
  };
  auto variants = [&](const ScenarioConfig& sc, const StudyTask& t) {
    std::set<bool> out;
    for (bool table_shrunk : tables_of(sc, t)) out.insert(table_shrunk && t.shrinkable);
    return out;
  };
  const auto& base = config.scenario(StudyKind::Baseline);
  const auto& arch = config.scenario(StudyKind::Architecture);
  const auto& pre = config.scenario(StudyKind::Pretraining);
  const auto& aug = config.scenario(StudyKind::Augmentation);
  const auto& co = config.scenario(StudyKind::CoTraining);
  const bool transfer = arch.enabled || pre.enabled || aug.enabled || co.enabled;

  // Tables by (kind, shrunk, validation).
  std::map<std::tuple<int, bool, bool>, std::size_t> table_index;
  auto cell = [&](StudyKind kind, bool shrunk, const std::string& target, OutcomeCell c) {
    const auto key = std::make_tuple(static_cast<int>(kind), shrunk, !rules.is_development(target));
    auto it = table_index.find(key);
    if (it == table_index.end()) {
      it = table_index.emplace(key, plan.tables.size()).first;
      plan.tables.push_back({kind, shrunk, !rules.is_development(target), {}});
    }
    c.target = target;
    plan.tables[it->second].cells.push_back(std::move(c));
  };

  for (int seed : config.seeds) {
    // Baselines: every target variant of every transfer scenario has one (outcomes are judged
    // against it), plus the variants the baseline scenario lists; full sources for pretraining.
    for (const auto& t : tasks) {
      std::set<bool> wanted;
      for (const auto* sc : {&base, &arch, &pre, &aug, &co})
        if (sc->enabled)
          for (bool v : variants(*sc, t)) wanted.insert(v);
      if (pre.enabled) wanted.insert(false);
      for (bool v : wanted) train_job(tr.architecture, t, v, seed);
      // The baseline tables: every task in the full one, the shrinkable tasks in the shrunk one
      // (as the paper's baseline files).
      for (bool table_shrunk : {false, true})
        if (base.enabled && (table_shrunk ? base.targets.shrunk && t.shrinkable : base.targets.full))
          cell(StudyKind::Baseline, table_shrunk, t.name,
               {seed, "", "", train_job(tr.architecture, t, table_shrunk && t.shrinkable, seed)});
    }
    if (arch.enabled)
      for (const auto& t : tasks) {
        std::set<bool> wanted = variants(arch, t);
        wanted.insert(false);  // every task is a source
        for (const auto& a : arch.candidates)
          for (bool v : wanted) train_job(a, t, v, seed);
      }
    if (!transfer) continue;
    for (const auto& target : tasks) {
      const auto sources = rules.valid_sources(target.name, info, 1);
      if (sources.empty())
        throw InputError(fmt::format("target '{}' has no valid source (the rules leave out the target, its group "
                                     "and, for a development target, every validation task)",
                                     target.name));
      for (const auto& s : sources) {
        const StudyTask& source = *by_name.at(s);
        auto pair_job = [&](JobKind kind, bool shrunk) {
          Job j;
          j.kind = kind;
          j.task = shrunk ? plan.shrunk_name(target.name) : target.name;
          j.source = source.name;
          j.architecture = tr.architecture;
          j.seed = seed;
          j.epochs = tr.epochs.epochs(target.samples, tr.batch, shrunk);
          const auto& v = sizes.at(j.task);
          j.train_samples = kind == JobKind::CoTrain ? 2 * v.train : v.train;
          j.evaluation_samples = v.evaluation;
          j.images = static_cast<std::uint64_t>(j.epochs) * j.train_samples + j.evaluation_samples;
          return j;
        };
        if (arch.enabled)
          for (bool table_shrunk : tables_of(arch, target))
            cell(StudyKind::Architecture, table_shrunk, target.name,
                 {seed, source.name, "", train_job(tr.architecture, source, false, seed)});
        if (pre.enabled)
          for (bool table_shrunk : tables_of(pre, target)) {
            Job j = pair_job(JobKind::Pretrain, table_shrunk && target.shrinkable);
            j.needs = {train_job(tr.architecture, source, false, seed)};
            cell(StudyKind::Pretraining, table_shrunk, target.name, {seed, source.name, "", add(std::move(j))});
          }
        if (aug.enabled)
          for (bool table_shrunk : tables_of(aug, target)) {
            const bool v = table_shrunk && target.shrinkable;
            Job search;
            search.kind = JobKind::PolicySearch;
            search.task = source.name;
            search.architecture = tr.architecture;
            search.seed = seed;
            search.epochs = aug.search.epochs;
            const auto& sv = sizes.at(source.name);
            search.train_samples = sv.train;
            search.evaluation_samples = sv.evaluation;
            // A published policy is read, not searched: no training.
            if (aug.policies.empty())
              search.images = static_cast<std::uint64_t>(aug.search.candidates) *
                              (static_cast<std::uint64_t>(search.epochs) * sv.train + sv.evaluation);
            else
              search.epochs = 0;
            Job j = pair_job(JobKind::Augment, v);
            j.needs = {add(std::move(search))};
            cell(StudyKind::Augmentation, table_shrunk, target.name, {seed, source.name, "", add(std::move(j))});
          }
        if (co.enabled)
          for (bool table_shrunk : tables_of(co, target))
            cell(StudyKind::CoTraining, table_shrunk, target.name,
                 {seed, source.name, "", add(pair_job(JobKind::CoTrain, table_shrunk && target.shrinkable))});
      }
    }
  }
  return plan;
}

namespace {
std::string count_text(double n) {
  if (n >= 1e9) return fmt::format("{:.3f} G", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.3f} M", n / 1e6);
  if (n >= 1e4) return fmt::format("{:.1f} k", n / 1e3);
  return fmt::format("{:.0f}", n);
}
}  // namespace

std::string describe_plan(const StudyPlan& plan, const ExperimentConfig& config, double images_per_second) {
  std::size_t shrinkable = 0;
  for (const auto& t : plan.tasks) shrinkable += t.shrinkable;
  std::vector<std::string> scenarios;
  for (int k = 0; k < 5; ++k)
    if (config.scenarios[k].enabled) scenarios.push_back(study_key(static_cast<StudyKind>(k)));
  std::string out = fmt::format("study '{}': {} tasks ({} shrinkable), seeds {}, scenarios: {}\n", plan.name,
                                plan.tasks.size(), shrinkable, fmt::join(config.seeds, ", "), fmt::join(scenarios, ", "));
  std::map<JobKind, std::size_t> count;
  std::map<JobKind, std::uint64_t> images;
  std::size_t stage1 = 0;
  std::uint64_t total = 0;
  for (const auto& j : plan.jobs) {
    ++count[j.kind];
    images[j.kind] += j.images;
    total += j.images;
    stage1 += j.stage() == 1;
  }
  out += fmt::format("jobs: {} in all ({} in stage 1, which needs nothing; {} in stage 2, after the jobs they need)\n",
                     plan.jobs.size(), stage1, plan.jobs.size() - stage1);
  for (const auto& [kind, n] : count)
    out += fmt::format("  {:<14} {:>7} jobs {:>12} images\n", job_kind_key(kind), n,
                       count_text(static_cast<double>(images[kind])));
  out += "outcome rows per metric (baselines: a value per target and seed):\n";
  for (int k = 0; k < 5; ++k) {
    std::string line;
    for (bool shrunk : {false, true})
      for (bool validation : {false, true})
        for (const auto& t : plan.tables)
          if (static_cast<int>(t.kind) == k && t.shrunk == shrunk && t.validation == validation)
            line += fmt::format("{}{} {} targets {}", line.empty() ? "" : "; ", shrunk ? "shrunk" : "full",
                                validation ? "validation" : "development", t.cells.size());
    const auto& sc = config.scenarios[k];
    if (!line.empty() && sc.max_target_classes > 0)
      line += fmt::format(" (targets of at most {} classes)", sc.max_target_classes);
    if (!line.empty()) out += fmt::format("  {:<14} {}\n", study_key(static_cast<StudyKind>(k)), line);
  }
  out += fmt::format("images through the network: {} (training epochs plus one evaluation each)\n",
                     count_text(static_cast<double>(total)));
  if (images_per_second > 0)
    out += fmt::format("at {:g} images/s per device: {:.1f} device-hours\n", images_per_second,
                       static_cast<double>(total) / images_per_second / 3600.0);
  return out;
}

std::string plan_json(const StudyPlan& plan, const ExperimentConfig& config) {
  using nlohmann::json;
  json tasks = json::array();
  for (const auto& t : plan.tasks)
    tasks.push_back({{"name", t.name}, {"samples", t.samples}, {"classes", t.classes}, {"shrinkable", t.shrinkable}});
  json jobs = json::array();
  for (const auto& j : plan.jobs) {
    json needs = json::array();
    for (auto n : j.needs) needs.push_back(plan.jobs[n].id());
    json o = {{"id", j.id()},         {"kind", job_kind_key(j.kind)}, {"task", j.task},
              {"architecture", j.architecture}, {"seed", j.seed}, {"epochs", j.epochs},
              {"train_samples", j.train_samples}, {"evaluation_samples", j.evaluation_samples},
              {"images", j.images},   {"stage", j.stage()},            {"needs", needs}};
    if (!j.source.empty()) o["source"] = j.source;
    jobs.push_back(std::move(o));
  }
  json doc = {{"format", "taskfp transfer plan 1"}, {"study", plan.name}, {"config", config.path},
              {"protocol", config.protocol()}, {"shrunk_suffix", plan.shrunk_suffix}, {"tasks", tasks},
              {"jobs", jobs}};
  return doc.dump(1) + "\n";
}

}  // namespace taskfp::experiments
