// Metric spec parser. Names follow the reference implementation's naming scheme exactly:
//   <base>[-PP:<T><S>][-A:<alpha>][-W:<B><P>][-<b>-BINS][-<n>-SAMPLES-<seed>-SEED]
// where the PP part is left out when neither side is preprocessed ("W" = without).
#include "distance/metric_spec.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"
#include "core/text.hpp"

namespace taskfp {
namespace {

std::optional<Prep> prep_from(char c) {
  switch (c) {
    case 'N': return Prep::L1;
    case 'S': return Prep::Softmax;
    case 'W': return Prep::None;
    case 'U': return Prep::Uniform;
    default: return std::nullopt;
  }
}

[[noreturn]] void malformed(std::string_view text, const std::string& why) {
  throw InputError(fmt::format("malformed metric spec '{}': {}\n{}", text, why, metric_grammar()));
}

// A well-formed spec whose parameter lies outside its domain: one line, no grammar (the syntax
// is right; the number is not).
[[noreturn]] void out_of_domain(std::string_view text, const std::string& why) {
  throw InputError(fmt::format("metric spec '{}': {}", text, why));
}

std::string canonical_name(const MetricSpec& s, const std::string& base) {
  std::string name = base;
  if (!(s.target_prep == Prep::None && s.source_prep == Prep::None))
    name += fmt::format("-PP:{}{}", static_cast<char>(s.target_prep), static_cast<char>(s.source_prep));
  if (s.alpha) name += "-A:" + s.alpha_text;
  if (s.weight_by != WeightBy::None)
    name += fmt::format("-W:{}{}", static_cast<char>(s.weight_by), static_cast<char>(s.weight_prep));
  if (s.bins > 0) name += fmt::format("-{}-BINS", s.bins);
  if (s.samples_suffix) name += *s.samples_suffix;
  return name;
}

// Parses the option tokens after the base name for the feature-based families.
void parse_options(std::string_view text, const std::vector<std::string>& tokens, std::size_t i,
                   MetricSpec& s) {
  bool saw_pp = false;
  if (i < tokens.size() && tokens[i].rfind("PP:", 0) == 0) {
    const auto& t = tokens[i];
    if (t.size() != 5) malformed(text, fmt::format("'{}' must be PP:<target><source>", t));
    auto tp = prep_from(t[3]), sp = prep_from(t[4]);
    if (!tp || !sp) malformed(text, fmt::format("'{}': preprocessing letters are N, S, W, U", t));
    s.target_prep = *tp;
    s.source_prep = *sp;
    saw_pp = true;
    ++i;
  }
  if (!saw_pp) s.target_prep = s.source_prep = Prep::None;
  if (i < tokens.size() && tokens[i].rfind("A:", 0) == 0) {
    s.alpha_text = tokens[i].substr(2);
    auto a = parse_number<double>(s.alpha_text);
    if (!a)
      malformed(text, fmt::format("alpha '{}' must be a number with 0 < alpha < 1", s.alpha_text));
    // NaN fails both comparisons.
    if (!(*a > 0.0 && *a < 1.0))
      out_of_domain(text,
                    fmt::format("the smoothing strength alpha {} must lie strictly between 0 and 1 "
                                "(e.g. -A:0.1)",
                                s.alpha_text));
    s.alpha = *a;
    ++i;
  }
  if (i < tokens.size() && tokens[i].rfind("W:", 0) == 0) {
    const auto& t = tokens[i];
    if (t.size() != 4) malformed(text, fmt::format("'{}' must be W:<whose><preprocessing>", t));
    if (t[2] == 'P')
      malformed(text, "provided weights (W:P.) need a weight vector; not supported by name");
    if (t[2] != 'S' && t[2] != 'T' && t[2] != 'B')
      malformed(text, fmt::format("'{}': weights follow S(ource), T(arget) or B(oth)", t));
    auto wp = prep_from(t[3]);
    if (!wp) malformed(text, fmt::format("'{}': weight preprocessing is N, S, W or U", t));
    s.weight_by = static_cast<WeightBy>(t[2]);
    s.weight_prep = *wp;
    ++i;
  }
  if (i + 1 < tokens.size() && tokens[i + 1] == "BINS") {
    auto b = parse_number<int>(tokens[i]);
    if (!b) malformed(text, fmt::format("bin count '{}' must be a positive integer", tokens[i]));
    if (*b < 1) out_of_domain(text, fmt::format("the bin count {} must be at least 1", tokens[i]));
    s.bins = *b;
    i += 2;
  }
  if (i + 3 < tokens.size() && tokens[i + 1] == "SAMPLES" && tokens[i + 3] == "SEED") {
    if (!parse_number<long>(tokens[i]) || !parse_number<long>(tokens[i + 2]))
      malformed(text, "expected -<n>-SAMPLES-<seed>-SEED with integers");
    s.samples_suffix = fmt::format("-{}-SAMPLES-{}-SEED", tokens[i], tokens[i + 2]);
    i += 4;
  }
  if (i != tokens.size()) malformed(text, fmt::format("unexpected part '{}'", tokens[i]));
  const bool uses_uniform = s.target_prep == Prep::Uniform || s.source_prep == Prep::Uniform ||
                            (s.weight_by != WeightBy::None && s.weight_prep == Prep::Uniform);
  if (uses_uniform && !s.alpha) malformed(text, "uniform smoothing (U) needs -A:<alpha>");
  if (s.alpha && !uses_uniform) malformed(text, "-A:<alpha> is only used with U preprocessing");
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& metric_aliases() {
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"bkld-small", "KLD-PP:NS-W:TS-100-BINS"},
      {"bkld-large", "KLD-PP:NS-1000-BINS"},
      {"p2l", "KLD-PP:NN"},
      {"vdna", "VDNA-PP:NN-1000-BINS"},
      {"fid", "FID"},
      {"semantic", "SEMANTIC"},
      {"fed", "FED"},
  };
  return aliases;
}

std::string metric_grammar() {
  std::string aliases;
  for (const auto& [a, n] : metric_aliases()) aliases += fmt::format("  {:<11} = {}\n", a, n);
  return "Metric specs (the paper's names):\n"
         "  KLD[-C][-I][-PP:<T><S>][-A:<alpha>][-W:<B><P>][-<b>-BINS]   binned (or mean) KL divergence\n"
         "  JS[-C]-PP:NN[-W:<B><P>][-<b>-BINS]                          Jensen-Shannon\n"
         "  VDNA-PP:NN|SS[-W:<B><P>]-<b>-BINS                           L1 between per-feature CDFs\n"
         "  EMD-AVG-PP:NN|SS[-W:<B><P>]                                 earth mover's on means\n"
         "  COS-PP:NN|SS[-<b>-BINS]                                     cosine distance\n"
         "  FID                                                         Frechet distance (needs covariances)\n"
         "  MMD-coral-<blur>                                            Deep CORAL (means and covariances)\n"
         "  MMD-cauchy-<blur>, MMD-gaussian-<blur>                      kernel MMD (needs --features)\n"
         "  MMD-geo-sinkhorn-<blur>[-S:<scaling>][-<n>-SAMPLES-<seed>-SEED]\n"
         "                                                              debiased Sinkhorn divergence, GeomLoss's\n"
         "                                                              eps schedule (scaling 0.1 unless S:);\n"
         "                                                              needs --features\n"
         "  SEMANTIC                                                    keyword Jaccard (needs --task-info)\n"
         "  FED                                                         1 - cosine of Fisher embeddings (needs\n"
         "                                                              --fisher: `taskfp fisher` writes them)\n"
         "  <T>,<S>,<P>: N = L1 norm, S = softmax, W = none, U = uniform smoothing (needs -A:<alpha>)\n"
         "  <B>: weights from T(arget), S(ource) or B(oth) mean features; -C clips at 1e-4; -I inverts\n"
         "Aliases:\n" +
         aliases;
}

MetricSpec parse_metric(std::string_view text_in) {
  std::string text(trim(text_in));
  for (const auto& [alias, name] : metric_aliases())
    if (text == alias) text = name;
  if (text.empty()) malformed(text_in, "empty name");
  auto tokens = split(text, '-');
  MetricSpec s;
  const std::string& head = tokens[0];
  if (head == "FID" || head == "SEMANTIC" || head == "FED") {
    if (tokens.size() != 1) malformed(text, fmt::format("{} takes no options", head));
    s.family = head == "FID" ? MetricFamily::FID : head == "FED" ? MetricFamily::FED : MetricFamily::SEMANTIC;
    s.name = head;
    return s;
  }
  if (head == "MMD") {
    if (tokens.size() >= 2 && tokens[1] == "geo") {
      // MMD-geo-sinkhorn-<blur>[-S:<scaling>][-<n>-SAMPLES-<seed>-SEED]
      if (tokens.size() < 4 || tokens[2] != "sinkhorn")
        malformed(text, "expected MMD-geo-sinkhorn-<blur>[-S:<scaling>][-<n>-SAMPLES-<seed>-SEED]");
      auto blur = parse_number<double>(tokens[3]);
      if (!blur) malformed(text, fmt::format("blur '{}' is not a number", tokens[3]));
      if (!std::isfinite(*blur) || *blur <= 0.0)
        out_of_domain(text, fmt::format("the blur {} must be a positive finite number (e.g. MMD-geo-sinkhorn-0.01)",
                                        tokens[3]));
      s.family = MetricFamily::SINKHORN;
      s.mmd_blur = *blur;
      s.mmd_blur_text = tokens[3];
      std::size_t i = 4;
      if (i < tokens.size() && tokens[i].rfind("S:", 0) == 0) {
        auto scaling = parse_number<double>(tokens[i].substr(2));
        if (!scaling) malformed(text, fmt::format("scaling '{}' is not a number", tokens[i].substr(2)));
        if (!(*scaling > 0.0 && *scaling < 1.0))
          out_of_domain(text, fmt::format("the scaling {} must lie strictly between 0 and 1", tokens[i].substr(2)));
        s.sinkhorn_scaling = *scaling;
        ++i;
      }
      if (i < tokens.size()) {
        if (tokens.size() != i + 4 || tokens[i + 1] != "SAMPLES" || tokens[i + 3] != "SEED")
          malformed(text, "expected ...-<n>-SAMPLES-<seed>-SEED after the blur and scaling");
        auto samples = parse_number<std::size_t>(tokens[i]);
        auto seed = parse_number<std::uint64_t>(tokens[i + 2]);
        if (!samples || *samples < 2) malformed(text, fmt::format("'{}' is not a number of samples (at least 2)", tokens[i]));
        if (!seed) malformed(text, fmt::format("'{}' is not a seed", tokens[i + 2]));
        s.sinkhorn_samples = *samples;
        s.sinkhorn_seed = *seed;
      }
      s.name = text;
      return s;
    }
    if (tokens.size() != 3) malformed(text, "expected MMD-<kernel>-<blur>");
    if (tokens[1] != "coral" && tokens[1] != "cauchy" && tokens[1] != "gaussian")
      malformed(text, fmt::format("unknown MMD kernel '{}' (cauchy, gaussian or coral)", tokens[1]));
    auto blur = parse_number<double>(tokens[2]);
    if (!blur) malformed(text, fmt::format("blur '{}' is not a number", tokens[2]));
    // Every kernel's scale must be a positive finite number: the Cauchy kernel blur / (blur + d)
    // is 0 / 0 on identical samples for blur 0 (an all-NaN matrix), and NaN or infinite blurs
    // make every entry NaN.
    if (!std::isfinite(*blur) || *blur <= 0.0)
      out_of_domain(text,
                    fmt::format("the blur {} must be a positive finite number (e.g. MMD-{}-0.05)",
                                tokens[2], tokens[1]));
    s.family = MetricFamily::MMD;
    s.mmd_kernel = tokens[1];
    s.mmd_blur = *blur;
    s.mmd_blur_text = tokens[2];
    s.name = text;
    return s;
  }

  std::size_t i = 1;
  std::string base = head;
  if (head == "KLD") {
    s.family = MetricFamily::KLD;
    if (i < tokens.size() && tokens[i] == "C") { s.clip = true; base += "-C"; ++i; }
    if (i < tokens.size() && tokens[i] == "I") { s.invert = true; base += "-I"; ++i; }
  } else if (head == "JS") {
    s.family = MetricFamily::JS;
    if (i < tokens.size() && tokens[i] == "C") { s.clip = true; base += "-C"; ++i; }
  } else if (head == "VDNA") {
    s.family = MetricFamily::VDNA;
  } else if (head == "EMD") {
    if (i >= tokens.size() || tokens[i] != "AVG") malformed(text, "expected EMD-AVG-...");
    s.family = MetricFamily::EMD_AVG;
    base += "-AVG";
    ++i;
  } else if (head == "COS") {
    s.family = MetricFamily::COS;
  } else {
    throw InputError(fmt::format("unknown metric '{}'\n{}", text, metric_grammar()));
  }
  parse_options(text, tokens, i, s);

  auto same_prep = [&](std::initializer_list<Prep> allowed) {
    if (s.target_prep != s.source_prep) return false;
    for (auto p : allowed)
      if (s.target_prep == p) return true;
    return false;
  };
  switch (s.family) {
    case MetricFamily::JS:
      if (!same_prep({Prep::L1})) malformed(text, "JS always uses PP:NN");
      break;
    case MetricFamily::VDNA:
      if (!same_prep({Prep::L1, Prep::Softmax})) malformed(text, "VDNA uses PP:NN or PP:SS");
      if (s.bins == 0) malformed(text, "VDNA needs histograms: add -<b>-BINS");
      break;
    case MetricFamily::EMD_AVG:
      if (!same_prep({Prep::L1, Prep::Softmax})) malformed(text, "EMD-AVG uses PP:NN or PP:SS");
      if (s.bins != 0) malformed(text, "EMD-AVG works on means; for histograms use VDNA");
      break;
    case MetricFamily::COS:
      if (!same_prep({Prep::L1, Prep::Softmax})) malformed(text, "COS uses PP:NN or PP:SS");
      if (s.weight_by != WeightBy::None) malformed(text, "COS takes no weights");
      break;
    default: break;
  }
  s.name = canonical_name(s, base);
  return s;
}

}  // namespace taskfp
