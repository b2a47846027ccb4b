// `taskfp import`: features made elsewhere, in the paper's npy folder layout, into a store.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/task_list.hpp"
#include "io/output_files.hpp"
#include "store/features_store.hpp"

namespace taskfp::cli {

void add_import(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "import", "Import features from the paper's folder layout <dir>/<task>/features_0001.npy "
                "into a features store");
  struct Opts {
    std::string dir, out, tasks;
    Provenance prov;
    std::size_t min_samples = 2;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("dir", o->dir, "Folder with one sub-folder per task")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("-o,--output", o->out, "Features store to write (.h5)")->required();
  cmd->add_option("--tasks", o->tasks, "Only these tasks: 'a,b', '@file' or 'set.yaml#key'");
  cmd->add_option("--backbone", o->prov.backbone, "Backbone that made the features (provenance)")->capture_default_str();
  cmd->add_option("--weights", o->prov.weights, "Weights of the backbone (provenance)")->capture_default_str();
  cmd->add_option("--weights-checksum", o->prov.weights_checksum, "Checksum of the weights (provenance)")->capture_default_str();
  cmd->add_option("--preprocessing", o->prov.preprocessing, "Image preprocessing, e.g. baseline256 (provenance)")->capture_default_str();
  cmd->add_option("--min-samples", o->min_samples, "Refuse tasks with fewer samples")->capture_default_str();
  cmd->callback([o, &g] {
    require_writable_file(o->out, "--output");
    FeatureLoadOptions lo;
    lo.min_samples = o->min_samples;
    if (!o->tasks.empty()) lo.tasks = parse_task_list(o->tasks);
    auto set = import_npy_folder(o->dir, lo, o->prov);
    write_features_store(o->out, set);
    info(g, fmt::format("imported {} tasks ({} features each) into {}", set.tasks.size(),
                        set.tasks.front().values.cols, o->out));
  });
}

}  // namespace taskfp::cli
