// `taskfp merge`: the parts folder of sharded `taskfp extract` runs joined into a features store.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "extract/parts.hpp"
#include "io/output_files.hpp"

namespace taskfp::cli {

void add_merge(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand("merge", "Join the parts folder of sharded `taskfp extract` runs into a features store");
  struct Opts {
    std::string parts, out;
    bool keep = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("parts", o->parts, "Parts folder (<output>.parts)")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("-o,--output", o->out, "Features store to write (.h5)")->required();
  cmd->add_flag("--keep-parts", o->keep, "Keep the parts folder");
  cmd->callback([o, &g] {
    require_writable_file(o->out, "--output");
    const auto features = merge_parts_into(o->parts, o->out, o->keep);
    info(g, fmt::format("merged features of {} tasks into {}", features.tasks.size(), o->out));
  });
}

}  // namespace taskfp::cli
