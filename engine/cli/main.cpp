// taskfp: command-line entry point. A thin layer: parse options, call the library, report errors.
#include <omp.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <new>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "mpi/world.hpp"
#include "io/file_digest.hpp"
#include "io/output_files.hpp"

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

void require_same_inputs_on_all_ranks(const std::vector<std::string>& inputs, const std::string& plan) {
  if (!mpi::world().distributed()) return;
  std::string mine = plan;
  std::vector<std::string> digests;
  for (const auto& path : inputs) {
    digests.push_back(file_digest(path));
    mine += "\n" + path + ": " + digests.back();
  }
  const auto differing = mpi::ranks_differing_from_root(mine);
  if (differing.empty()) return;
  throw InputError(fmt::format(
      "ranks {} read other inputs than rank 0 ({}): every rank must read the same files, e.g. from a "
      "shared file system",
      fmt::join(differing, ", "),
      inputs.empty() ? std::string("another plan") : fmt::format("rank {} has {}", mpi::world().rank, fmt::join(digests, "; "))));
}

CLI::Validator number_where(bool (*ok)(double), const std::string& description, const std::string& expected) {
  return CLI::Validator(
      [ok, expected](std::string& text) {
        try {
          std::size_t used = 0;
          if (ok(std::stod(text, &used)) && used == text.size()) return std::string();
        } catch (const std::exception&) {
        }
        return "must be " + expected + " (got '" + text + "')";
      },
      description);
}

namespace {
// A message on one line: line breaks become "; ".
std::string one_line(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (std::size_t at = message.find('\n'); at != std::string::npos; at = message.find('\n', at))
    message.replace(at, 1, "; ");
  return message;
}
}  // namespace

}  // namespace taskfp::cli

int main(int argc, char** argv) {
  using namespace taskfp::cli;
  GlobalOptions g;
  CLI::App app{"taskfp " TASKFP_VERSION
               ": task fingerprints and task distances for transfer learning in medical imaging.\n"
               "Pipeline: images -> `extract` -> features -> `fingerprint` -> fingerprints -> `distance` -> matrices -> `evaluate`.\n"
               "Run `taskfp <command> --help` for each command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("taskfp ") + TASKFP_VERSION);
  app.add_flag("-q,--quiet", g.quiet, "Print only errors and warnings");
  app.add_flag("-v,--verbose", g.verbose, "Print details of each step");
  app.add_option("-j,--threads", g.threads, "CPU threads (default: all cores; at most 4096)")
      ->check(CLI::Range(0, 4096));
  app.fallthrough();
  app.parse_complete_callback([&] {
    if (g.threads > 0) omp_set_num_threads(g.threads);
    // Under an MPI launcher only the commands that divide their work run; any other command
    // would run whole on every rank and write the same files.
    taskfp::require(!taskfp::mpi::world().distributed() || app.got_subcommand("distance") ||
                        app.got_subcommand("extract") || app.got_subcommand("transfer") ||
                        app.got_subcommand("fisher"),
                    "this command runs in one process: start it without mpirun/srun (under MPI, `taskfp distance`, "
                    "`taskfp extract`, `taskfp fisher` and `taskfp transfer run` split their work over the ranks)");
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
  add_transfer(app, g);
  add_fisher(app, g);

  // Errors under MPI: every rank that fails says so (with its rank) and stops all ranks, so
  // that none waits forever for a rank that is gone.
  auto rank_tag = [] {
    const auto& w = taskfp::mpi::world();
    return w.distributed() ? fmt::format(" (rank {} of {})", w.rank, w.size) : std::string();
  };
  auto fail = [&](int code) {
    taskfp::mpi::abort_all(code);
    taskfp::mpi::finalize();
    return code;
  };
  // One exit-status contract: 0 success, 2 for every user error (usage, input, output path,
  // resources) with one line "taskfp: error: ..."; anything else is a bug and says so (3).
  // A message with a help text after its first line (the metric grammar) prints that text
  // below the error line, indented.
  auto user_error = [&](std::string message) {
    // Names from files may hold bytes a terminal would act on (NUL, escapes): shown as \xNN.
    std::string shown;
    for (unsigned char c : message)
      shown += (c < 0x20 && c != '\n') || c == 0x7f ? fmt::format("\\x{:02x}", c) : std::string(1, static_cast<char>(c));
    message = shown;
    const auto br = message.find('\n');
    std::string text = "taskfp: error" + rank_tag() + ": " + message.substr(0, br) + '\n';
    if (br != std::string::npos)
      for (const auto& line : taskfp::split(message.substr(br + 1), '\n'))
        if (!line.empty()) text += "  " + line + '\n';
    std::cerr << text;
    return fail(2);
  };
  try {
    taskfp::mpi::init(argc, argv);
    taskfp::remove_temporaries_on_signals();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      app.exit(e);
      taskfp::mpi::finalize();
      return 0;
    }
    std::string command;  // the (sub)command line given, e.g. " transfer collect"
    for (const CLI::App* at = &app; !at->get_subcommands().empty();) {
      at = at->get_subcommands().back();
      command += " " + at->get_name();
    }
    if (command.empty()) {  // say which word was taken for a command
      for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word == "-j" || word == "--threads") {
          ++i;
          continue;
        }
        const auto subs = app.get_subcommands([&](const CLI::App* sub) { return sub->get_name() == word; });
        if (!word.empty() && word[0] != '-' && subs.empty())
          return user_error(fmt::format("unknown command '{}' (see `taskfp --help` for the commands)", word));
      }
    }
    return user_error(fmt::format("{} (see `taskfp{} --help`)", e.what(), command));
  } catch (const taskfp::Error& e) {
    return user_error(e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    // Output folders that cannot be created, files that cannot be moved or listed.
    return user_error(e.what());
  } catch (const std::bad_alloc&) {
    return user_error(
        "out of memory: the inputs need more memory than this machine (or the process's limit) "
        "allows; run fewer tasks or metrics at a time, or on a machine with more memory");
  } catch (const std::exception& e) {
    std::cerr << "taskfp: internal error" + rank_tag() + ": " + one_line(e.what()) +
                     "\nThis is a bug in taskfp; please report it with the command you ran.\n";
    return fail(3);
  }
  taskfp::mpi::finalize();
  return 0;
}
