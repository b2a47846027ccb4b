// taskfp: command-line entry point. A thin layer: parse options, call the library, report errors.
#include <omp.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace taskfp::cli {

void info(const GlobalOptions& g, const std::string& message) {
  if (!g.quiet) std::cerr << message << '\n';
}
void detail(const GlobalOptions& g, const std::string& message) {
  if (g.verbose && !g.quiet) std::cerr << message << '\n';
}
void warn(const std::string& message) { std::cerr << "taskfp: warning: " << message << '\n'; }

}  // namespace taskfp::cli

int main(int argc, char** argv) {
  using namespace taskfp::cli;
  GlobalOptions g;
  CLI::App app{"taskfp " TASKFP_VERSION
               ": task fingerprints and task distances for transfer learning in medical imaging.\n"
               "Pipeline: features -> `fingerprint` -> fingerprints -> `distance` -> matrices -> `evaluate`.\n"
               "Run `taskfp <command> --help` for each command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("taskfp ") + TASKFP_VERSION);
  app.add_flag("-q,--quiet", g.quiet, "Print only errors and warnings");
  app.add_flag("-v,--verbose", g.verbose, "Print details of each step");
  app.add_option("-j,--threads", g.threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.fallthrough();
  app.parse_complete_callback([&] {
    if (g.threads > 0) omp_set_num_threads(g.threads);
  });

  add_synth(app, g);
  add_import(app, g);
  add_fingerprint(app, g);
  add_distance(app, g);
  add_inspect(app, g);
  add_evaluate(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const taskfp::Error& e) {
    std::cerr << "taskfp: error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "taskfp: internal error: " << e.what()
              << "\nThis is a bug in taskfp; please report it with the command you ran.\n";
    return 3;
  }
  return 0;
}
