// taskfp: command-line entry point. A thin layer: parse options, call the library, report errors.
#include <omp.h>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "dist/world.hpp"

namespace taskfp::cli {

// Each message leaves in one write, newline included, so that the lines of several ranks
// sharing a terminal or log do not run into each other.
void info(const GlobalOptions& g, const std::string& message) {
  if (!g.quiet) std::cerr << message + '\n';
}
void detail(const GlobalOptions& g, const std::string& message) {
  if (g.verbose && !g.quiet) std::cerr << message + '\n';
}
void warn(const std::string& message) { std::cerr << "taskfp: warning: " + message + '\n'; }

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
    // Under an MPI launcher only `distance` divides its work; any other command would run
    // whole on every rank and write the same files.
    taskfp::require(!taskfp::dist::world().distributed() || app.got_subcommand("distance") ||
                        app.got_subcommand("extract"),
                    "this command runs in one process: start it without mpirun/srun (under MPI, "
                    "`taskfp distance` and `taskfp extract` split their work over the ranks)");
  });

  add_synth(app, g);
  add_synth_images(app, g);
  add_extract(app, g);
  add_merge(app, g);
  add_import(app, g);
  add_fingerprint(app, g);
  add_distance(app, g);
  add_inspect(app, g);
  add_evaluate(app, g);

  // Errors under MPI: every rank that fails says so (with its rank) and stops all ranks, so
  // that none waits forever for a rank that is gone.
  auto rank_tag = [] {
    const auto& w = taskfp::dist::world();
    return w.distributed() ? fmt::format(" (rank {} of {})", w.rank, w.size) : std::string();
  };
  auto fail = [&](int code) {
    taskfp::dist::abort_all(code);
    taskfp::dist::finalize();
    return code;
  };
  try {
    taskfp::dist::init(argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? (taskfp::dist::finalize(), 0) : fail(code);
  } catch (const taskfp::Error& e) {
    std::cerr << "taskfp: error" + rank_tag() + ": " + e.what() + '\n';
    return fail(2);
  } catch (const std::exception& e) {
    std::cerr << "taskfp: internal error" + rank_tag() + ": " + e.what() +
                     "\nThis is a bug in taskfp; please report it with the command you ran.\n";
    return fail(3);
  }
  taskfp::dist::finalize();
  return 0;
}
