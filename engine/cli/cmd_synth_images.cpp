// `taskfp synth-images`: procedural image tasks, the image pipeline's offline default data.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "images/synth_images.hpp"
#include "io/output_files.hpp"

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
  cmd->add_option("--min-size", o->synth.min_size,
                  "Height of the smallest images in pixels; tasks have 1, 1.4, 1.8 or 2.2 times it")
      ->capture_default_str();
  cmd->add_flag("--jpeg-only", o->synth.jpeg_only, "Every task as RGB JPEG (for throughput runs)");
  cmd->callback([o, &g] {
    // Written under a temporary name and moved into place when complete.
    namespace fs = std::filesystem;
    // "images/" names the folder images: its parent is the current folder, not images itself.
    while (o->out.size() > 1 && o->out.back() == '/') o->out.pop_back();
    std::error_code ec;
    require(!fs::exists(o->out, ec) || (fs::is_directory(o->out, ec) && fs::is_empty(o->out, ec)),
            "--output '{}' exists and is not an empty folder; choose a new folder", o->out);
    const auto parent = fs::path(o->out).parent_path();
    MadeFolders parents(parent.empty() ? "." : parent.string());
    PendingOutput folder(o->out, true);
    std::vector<std::string> names;
    try {
      names = write_image_tasks(folder.temporary(), o->synth);
    } catch (const InputError& e) {  // named as the user knows the folder
      std::string message = e.what();
      for (auto at = message.find(folder.temporary()); at != std::string::npos; at = message.find(folder.temporary()))
        message.replace(at, folder.temporary().size(), o->out);
      throw InputError(message);
    }
    folder.commit();
    parents.keep();
    info(g, fmt::format("wrote {} image tasks ({} classes x {} images each) and {}/taskset.yaml",
                        names.size(), o->synth.classes, o->synth.images_per_class, o->out));
  });
}

}  // namespace taskfp::cli
