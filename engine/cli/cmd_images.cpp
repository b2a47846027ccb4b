// `taskfp synth-images`: the image pipeline's offline default data.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "images/synth_images.hpp"

namespace taskfp::cli {

void add_synth_images(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "synth-images",
      "Write procedural image tasks (families of related patterns; grey and colour, 8- and 16-bit "
      "PNG and JPEG, several sizes) as class folders, with a taskset.yaml listing them");
  struct Opts {
    ImageSynthOptions synth;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-o,--output", o->out, "Folder to write (<task>/train/<class>/<image>)")->required();
  cmd->add_option("--families", o->synth.families, "Task families (pattern kinds cycle: stripes, blobs, rings, checks)")
      ->capture_default_str();
  cmd->add_option("--tasks-per-family", o->synth.tasks_per_family, "Tasks in each family")->capture_default_str();
  cmd->add_option("--classes", o->synth.classes, "Classes per task")->capture_default_str();
  cmd->add_option("--images-per-class", o->synth.images_per_class, "Training images per class")
      ->capture_default_str();
  cmd->add_option("--seed", o->synth.seed, "Random seed")->capture_default_str();
  cmd->callback([o, &g] {
    const auto names = write_image_tasks(o->out, o->synth);
    info(g, fmt::format("wrote {} image tasks ({} classes x {} images each) and {}/taskset.yaml",
                        names.size(), o->synth.classes, o->synth.images_per_class, o->out));
  });
}

}  // namespace taskfp::cli
