// The taskfp subcommands: each registers its options on the app and runs through the library.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace taskfp::cli {

/// Options every subcommand shares.
struct GlobalOptions {
  bool quiet = false;
  bool verbose = false;
  int threads = 0;  ///< 0: OpenMP's default
};

/// Messages to stderr honouring --quiet / --verbose.
void info(const GlobalOptions& g, const std::string& message);
void detail(const GlobalOptions& g, const std::string& message);
void warn(const std::string& message);

/// Under MPI: stops every rank unless all of them read the same `inputs` (files or folders;
/// their size and xxh3 digest against rank 0's) and agree on `plan` (e.g. an extraction plan's
/// key). Collective; returns at once in a world of one.
/// A CLI11 check of a number: `ok(value)` must hold, else "must be <expected> (got '<text>')";
/// `description` is what --help shows (e.g. "in (0, 1]").
CLI::Validator number_where(bool (*ok)(double), const std::string& description, const std::string& expected);

void require_same_inputs_on_all_ranks(const std::vector<std::string>& inputs, const std::string& plan = "");

void add_synth(CLI::App& app, const GlobalOptions& g);
void add_synth_images(CLI::App& app, const GlobalOptions& g);
void add_extract(CLI::App& app, const GlobalOptions& g);
void add_merge(CLI::App& app, const GlobalOptions& g);
void add_import(CLI::App& app, const GlobalOptions& g);
void add_fingerprint(CLI::App& app, const GlobalOptions& g);
void add_distance(CLI::App& app, const GlobalOptions& g);
void add_inspect(CLI::App& app, const GlobalOptions& g);
void add_evaluate(CLI::App& app, const GlobalOptions& g);
void add_transfer(CLI::App& app, const GlobalOptions& g);
void add_fisher(CLI::App& app, const GlobalOptions& g);

}  // namespace taskfp::cli
