// `taskfp synth`: deterministic synthetic features (families of related tasks).
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "io/output_files.hpp"
#include "store/features_store.hpp"
#include "synth/synthetic.hpp"

namespace taskfp::cli {

void add_synth(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "synth", "Write deterministic synthetic features: families of related tasks (for tests, "
               "benchmarks and the demo)");
  struct Opts {
    SynthOptions synth;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-o,--output", o->out, "Features store to write (.h5)")->required();
  cmd->add_option("--families", o->synth.families, "Number of task families")->capture_default_str();
  cmd->add_option("--tasks-per-family", o->synth.tasks_per_family, "Tasks in each family")->capture_default_str();
  cmd->add_option("--samples", o->synth.samples, "Samples per task (at least 2)")
      ->capture_default_str();
  cmd->add_option("--dim", o->synth.dim, "Features per sample")->capture_default_str();
  cmd->add_option("--seed", o->synth.seed, "Random seed")->capture_default_str();
  cmd->add_option("--family-spread", o->synth.family_spread,
                  fmt::format("Distance between families (0 to {:g})", kMaxSynthSpread))
      ->capture_default_str();
  cmd->add_option("--task-spread", o->synth.task_spread,
                  fmt::format("Distance between siblings (0 to {:g})", kMaxSynthSpread))
      ->capture_default_str();
  cmd->callback([o, &g] {
    require_writable_file(o->out, "--output");
    auto set = synthetic_features(o->synth);
    write_features_store(o->out, set);
    info(g, fmt::format("wrote {} synthetic tasks ({} x {} features each) to {}", set.tasks.size(),
                        o->synth.samples, o->synth.dim, o->out));
  });
}

}  // namespace taskfp::cli
