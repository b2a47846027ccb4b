// `taskfp synth-images`: the image pipeline's offline default data.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/task_list.hpp"
#include "extract/extract.hpp"
#include "images/synth_images.hpp"
#include "store/features_store.hpp"

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

namespace taskfp::cli {

void add_extract(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "extract",
      "Extract backbone features of image tasks into a features store (then `taskfp fingerprint`)");
  struct Opts {
    std::string taskset, out, tasks, backbone = "resnet34", weights;
    bool random_weights = false;
    std::uint64_t weight_seed = 0;
    ExtractOptions extract;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-t,--taskset", o->taskset, "Image task set (YAML; `taskfp synth-images` writes one)")->required();
  cmd->add_option("-o,--output", o->out, "Features store to write (.h5)")->required();
  cmd->add_option("--tasks", o->tasks, "Only these tasks: 'a,b', '@file' (default: all in the task set)");
  cmd->add_option("--backbone", o->backbone,
                  "resnet34 (native, torchvision layout), or a TorchScript file (.pt) mapping n x 3 x H x W to n x d")
      ->capture_default_str();
  cmd->add_option("--weights", o->weights,
                  "ResNet34 weights: HDF5 with one float32 dataset per torchvision state_dict key "
                  "(scripts/export_backbone.py writes the ImageNet ones)");
  cmd->add_flag("--random-weights", o->random_weights,
                "Seeded random ResNet34 weights, recorded as NOT PRETRAINED (tests, offline demos)");
  cmd->add_option("--weight-seed", o->weight_seed, "Seed of --random-weights")->capture_default_str();
  cmd->add_option("-n,--samples", o->extract.samples, "Images per task (with replacement when a task has fewer)")
      ->capture_default_str();
  cmd->add_option("--seed", o->extract.seed, "Seed of the image draws and shrunk subsets")->capture_default_str();
  cmd->add_option("--batch", o->extract.batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--size", o->extract.preprocess.size, "Resize to size x size")->capture_default_str();
  cmd->add_flag("--skip-bad", o->extract.skip_bad,
                "Drop unreadable images (each one recorded in provenance and listed) instead of stopping");
  cmd->callback([o, &g] {
    auto specs = read_image_taskset(o->taskset);
    if (!o->tasks.empty()) {
      const auto wanted = parse_task_list(o->tasks);
      std::vector<std::string> names;
      for (const auto& s : specs) names.push_back(s.name);
      require_tasks_present(wanted, names, "the task set " + o->taskset);
      std::vector<ImageTaskSpec> chosen;
      for (const auto& w : wanted)
        for (const auto& s : specs)
          if (s.name == w) chosen.push_back(s);
      specs = chosen;
    }
    std::unique_ptr<Backbone> net;
    if (o->backbone == "resnet34") {
      require(!o->weights.empty() || o->random_weights,
              "give --weights (a ResNet34 weights file; scripts/export_backbone.py writes the ImageNet "
              "ones) or --random-weights (not pretrained: tests and offline demos only)");
      require(o->weights.empty() || !o->random_weights, "give either --weights or --random-weights");
      net = make_resnet34(o->weights, o->weight_seed);
    } else {
      require(o->weights.empty() && !o->random_weights,
              "--weights and --random-weights are for resnet34; a TorchScript file carries its own");
      net = load_torchscript(o->backbone);
    }
    if (!net->info().pretrained) warn("backbone weights are random (" + net->info().weights + ")");
    ProgressMeter meter("extract", !g.quiet);
    o->extract.progress = meter.callback();
    ExtractReport report;
    auto features = extract_features(specs, *net, o->extract, &report);
    write_features_store(o->out, features);
    if (!report.skipped.empty()) {
      warn(fmt::format("{} unreadable images were skipped (recorded in the store's provenance):", report.skipped.size()));
      for (const auto& s : report.skipped) std::cerr << "  " << s << '\n';
    }
    info(g, fmt::format("wrote features of {} tasks ({} images, {:.1f} images/s) to {}", features.tasks.size(),
                        report.images, report.images / std::max(report.seconds, 1e-9), o->out));
  });
}

}  // namespace taskfp::cli
