// Evaluation outputs: CSV tables, Markdown, and two SVG figures drawn without dependencies.
#include "evaluate/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/csv.hpp"
#include "io/output_files.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;

std::string table_csv(const SummaryTable& t, const Matrix<double>& values) {
  std::string s = "distance";
  for (const auto& c : t.columns) s += "," + csv_field(c);
  s += "\n";
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    s += csv_field(t.rows[i]);
    for (std::size_t j = 0; j < t.columns.size(); ++j) s += "," + csv_number(values(i, j));
    s += "\n";
  }
  return s;
}

std::string fmt_cell(double v, int digits = 4) { return std::isnan(v) ? "-" : fmt::format("{:.{}f}", v, digits); }

std::string table_markdown(const SummaryTable& t, bool with_std, bool lower_is_better) {
  std::string s = "| distance |";
  for (const auto& c : t.columns) s += " " + c + " |";
  s += "\n| --- |";
  for (std::size_t j = 0; j < t.columns.size(); ++j) s += " ---: |";
  s += "\n";
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    s += "| " + t.rows[i] + " |";
    for (std::size_t j = 0; j < t.columns.size(); ++j) {
      // Bold the best value of each column.
      double best = lower_is_better ? INFINITY : -INFINITY;
      for (std::size_t k = 0; k < t.rows.size(); ++k) {
        double v = t.mean(k, j);
        if (!std::isnan(v)) best = lower_is_better ? std::min(best, v) : std::max(best, v);
      }
      std::string cell = fmt_cell(t.mean(i, j));
      if (with_std && !std::isnan(t.std(i, j))) cell += fmt::format(" ± {:.3f}", t.std(i, j));
      if (t.mean(i, j) == best) cell = "**" + cell + "**";
      s += " " + cell + " |";
    }
    s += "\n";
  }
  return s;
}

std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// A perceptually ordered colour ramp (viridis, 5 stops, linear between them).
std::string ramp(double t) {
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (std::isnan(t)) return "#dddddd";
  t = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  int rgb[3];
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<int>(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

std::string ranking_svg(const SummaryTable& regret) {
  // Grouped bars: one group per scenario, one bar per distance; lower is better.
  const std::size_t groups = regret.columns.size() - 1, bars = regret.rows.size();
  const double bar_w = 14, gap = 24, left = 60, top = 40, height = 260;
  const double width = left + static_cast<double>(groups) * (static_cast<double>(bars) * bar_w + gap) + 260;
  double vmax = 0;
  for (std::size_t i = 0; i < bars; ++i)
    for (std::size_t j = 0; j < groups; ++j)
      if (!std::isnan(regret.mean(i, j))) vmax = std::max(vmax, regret.mean(i, j));
  vmax = vmax > 0 ? vmax * 1.1 : 1;
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='sans-serif' font-size='11'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='{}' y='20' font-size='14'>Mean regret of the top-k sources per scenario (reversed: lower is better)</text>\n",
      width, top + height + 60, left);
  for (int tick = 0; tick <= 4; ++tick) {
    const double v = vmax * tick / 4, y = top + height - height * tick / 4;
    s += fmt::format("<line x1='{}' x2='{:.0f}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/><text x='{}' y='{:.1f}' text-anchor='end'>{:.3f}</text>\n",
                     left, width - 250, y, y, left - 6, y + 4, v);
  }
  for (std::size_t j = 0; j < groups; ++j) {
    const double x0 = left + 10 + static_cast<double>(j) * (static_cast<double>(bars) * bar_w + gap);
    for (std::size_t i = 0; i < bars; ++i) {
      const double v = regret.mean(i, j);
      if (std::isnan(v)) continue;
      const double h = height * v / vmax;
      s += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'><title>{}: {:.4f}</title></rect>\n",
                       x0 + static_cast<double>(i) * bar_w, top + height - h, bar_w - 2, h,
                       ramp(bars > 1 ? static_cast<double>(i) / static_cast<double>(bars - 1) : 0.5),
                       svg_escape(regret.rows[i]), v);
    }
    s += fmt::format("<text x='{:.1f}' y='{:.1f}' text-anchor='middle'>{}</text>\n",
                     x0 + static_cast<double>(bars) * bar_w / 2, top + height + 16, svg_escape(regret.columns[j]));
  }
  const double lx = width - 240;
  for (std::size_t i = 0; i < bars; ++i)
    s += fmt::format("<rect x='{:.0f}' y='{:.0f}' width='10' height='10' fill='{}'/><text x='{:.0f}' y='{:.0f}'>{}</text>\n",
                     lx, top + static_cast<double>(i) * 16, ramp(bars > 1 ? static_cast<double>(i) / static_cast<double>(bars - 1) : 0.5),
                     lx + 14, top + static_cast<double>(i) * 16 + 9, svg_escape(regret.rows[i]));
  return s + "</svg>\n";
}

std::string heatmap_svg(const DistanceMatrix& m, const TaskSet* tasks) {
  const double cell = 6, left = 260, top = 40;
  const double w = left + cell * static_cast<double>(m.targets.size()) + 20;
  const double h = top + cell * static_cast<double>(m.sources.size()) + 30;
  // Colour by rank within each target column (distance scales differ a lot between targets, and
  // the question a column answers is "which sources are closest to this target"). NaN grey.
  Matrix<double> level(m.values.rows, m.values.cols, std::nan(""));
  for (std::size_t j = 0; j < m.targets.size(); ++j) {
    std::vector<double> col;
    for (std::size_t i = 0; i < m.sources.size(); ++i)
      if (std::isfinite(m.values(i, j)) && m.sources[i] != m.targets[j]) col.push_back(m.values(i, j));
    std::sort(col.begin(), col.end());
    for (std::size_t i = 0; i < m.sources.size() && !col.empty(); ++i) {
      const double v = m.values(i, j);
      if (!std::isfinite(v) || m.sources[i] == m.targets[j]) continue;
      const auto pos = std::lower_bound(col.begin(), col.end(), v) - col.begin();
      level(i, j) = 1.0 - static_cast<double>(pos) / static_cast<double>(std::max<std::size_t>(1, col.size() - 1));
    }
  }
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='sans-serif' font-size='6'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='10' y='18' font-size='12'>{} (rows = sources, columns = targets; colour: rank within each target column, brighter = closer)</text>\n",
      w, h, svg_escape(m.metric));
  for (std::size_t i = 0; i < m.sources.size(); ++i) {
    s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='end'>{}</text>\n", left - 4,
                     top + cell * (static_cast<double>(i) + 0.8), svg_escape(m.sources[i]));
    for (std::size_t j = 0; j < m.targets.size(); ++j)
      s += fmt::format("<rect x='{:.0f}' y='{:.0f}' width='{:.0f}' height='{:.0f}' fill='{}'/>", left + cell * static_cast<double>(j),
                       top + cell * static_cast<double>(i), cell, cell,
                       m.sources[i] == m.targets[j] ? std::string("#ffffff") : ramp(level(i, j)));
    s += "\n";
  }
  if (tasks) {
    // Mark the development/validation boundary and the task groups on the source axis.
    for (std::size_t i = 1; i < m.sources.size(); ++i) {
      const bool boundary = tasks->is_development(m.sources[i - 1]) != tasks->is_development(m.sources[i]);
      const auto g0 = tasks->group_of(m.sources[i - 1]), g1 = tasks->group_of(m.sources[i]);
      if (boundary || g0 != g1)
        s += fmt::format("<line x1='{:.0f}' x2='{:.0f}' y1='{:.0f}' y2='{:.0f}' stroke='{}' stroke-width='{}'/>\n",
                         left - 2, w - 20, top + cell * static_cast<double>(i), top + cell * static_cast<double>(i),
                         boundary ? "red" : "white", boundary ? 1.5 : 0.8);
    }
    for (std::size_t i = 0; i < m.sources.size(); ++i) {
      const auto g = tasks->group_of(m.sources[i]);
      if (!g.empty() && (i == 0 || tasks->group_of(m.sources[i - 1]) != g))
        s += fmt::format("<text x='{:.0f}' y='{:.1f}' fill='#b00'>[{}]</text>\n", 4.0,
                         top + cell * (static_cast<double>(i) + 0.8), svg_escape(g));
    }
  }
  return s + "</svg>\n";
}

}  // namespace

std::string regret_table_text(const Evaluation& e) {
  auto t = summarize(e, MetaMetric::Regret);
  std::string s = fmt::format("{:<32}", "mean regret (lower is better)");
  for (const auto& c : t.columns) s += fmt::format(" {:>20}", c);
  s += "\n";
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    s += fmt::format("{:<32}", t.rows[i]);
    for (std::size_t j = 0; j < t.columns.size(); ++j) s += fmt::format(" {:>20}", fmt_cell(t.mean(i, j), 6));
    s += "\n";
  }
  return s;
}

std::vector<std::string> write_evaluation(const std::string& dir_text, const Evaluation& e,
                                          const ReportOptions& o) {
  const fs::path dir(dir_text);
  // Every file complete first, then all moved into place: a failure leaves none of them (and
  // no folder this call created).
  MadeFolders folders(dir_text);
  OutputSet outputs;
  std::vector<std::string> files;
  auto put = [&](const std::string& name, const std::string& text) {
    write_text_file((dir / name).string(), text, &outputs);
    files.push_back((dir / name).string());
  };
  std::string scores = "scenario,distance,metric,aggregate,target,meta_metric,score\n";
  for (const auto& r : e.rows)
    scores += fmt::format("{},{},{},{},{},{},{}\n", csv_field(scenario_label(r.scenario)), csv_field(r.distance),
                          r.metric, aggregate_name(r.aggregate), csv_field(r.target),
                          meta_metric_name(r.meta_metric), csv_number(r.score));
  put("scores.csv", scores);

  std::vector<MetaMetric> metas;
  for (const auto& r : e.rows)
    if (std::find(metas.begin(), metas.end(), r.meta_metric) == metas.end()) metas.push_back(r.meta_metric);

  std::string md = "# taskfp evaluation\n\n";
  if (!o.description.empty()) md += o.description + "\n\n";
  md += fmt::format("{} distances, {} scores. Per-target scores: `scores.csv`.\n\n", e.distances.size(), e.rows.size());
  for (auto m : metas) {
    auto t = summarize(e, m);
    const std::string name = meta_metric_name(m);
    put("summary_" + name + ".csv", table_csv(t, t.mean));
    put("summary_" + name + "_std.csv", table_csv(t, t.std));
    md += fmt::format("## {}\n\nMean ± std over targets (and metrics, seed aggregates).\n\n{}\n", t.title,
                      table_markdown(t, true, m == MetaMetric::Regret));
  }
  auto wins = win_rates(e);
  put("win_rates.csv", table_csv(wins, wins.mean));
  md += fmt::format("## {}\n\n{}\n", wins.title, table_markdown(wins, false, false));

  auto stability = setup_stability(e);
  std::string st = "varied,stability\n";
  md += "## Setup stability\n\nMean Kendall tau between distance rankings of setups that differ in one component "
        "(1 = the ranking never changes).\n\n| varied | stability |\n| --- | ---: |\n";
  for (const auto& [name, v] : stability) {
    st += fmt::format("{},{}\n", name, csv_number(v));
    md += fmt::format("| {} | {} |\n", name, fmt_cell(v));
  }
  put("stability.csv", st);

  auto ranks = rank_distribution(e);
  put("rank_distribution.csv", table_csv(ranks, ranks.mean));
  md += fmt::format("\n## {}\n\n{}\n", ranks.title, table_markdown(ranks, false, false));

  auto boot = bootstrap_rankings(e, o.bootstrap_samples, o.seed);
  std::string bs = "scenario,meta_metric,distance,mean_rank,share_rank1\n";
  md += fmt::format("## Bootstrap rankings\n\n{} bootstrap samples of the targets (seed {}); mean rank "
                    "(1 = best) and share of samples ranked first.\n\n| scenario | meta-metric | ranking |\n| --- | --- | --- |\n",
                    o.bootstrap_samples, o.seed);
  for (const auto& b : boot) {
    std::vector<std::size_t> order(b.distances.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](auto x, auto y) { return b.mean_rank[x] < b.mean_rank[y]; });
    std::string line;
    for (auto i : order) {
      bs += fmt::format("{},{},{},{},{}\n", csv_field(scenario_label(b.scenario)), meta_metric_name(b.meta_metric),
                        csv_field(b.distances[i]), csv_number(b.mean_rank[i]), csv_number(b.share_first[i]));
      line += fmt::format("{}{} ({:.2f})", line.empty() ? "" : ", ", b.distances[i], b.mean_rank[i]);
    }
    md += fmt::format("| {} | {} | {} |\n", scenario_label(b.scenario), meta_metric_name(b.meta_metric), line);
  }
  put("bootstrap_ranks.csv", bs);

  if (std::find(metas.begin(), metas.end(), MetaMetric::Regret) != metas.end()) {
    put("ranking.svg", ranking_svg(summarize(e, MetaMetric::Regret)));
    md += "\n![mean regret per scenario](ranking.svg)\n";
  }
  if (o.heatmap) {
    put("heatmap.svg", heatmap_svg(*o.heatmap, o.tasks));
    md += fmt::format("\n![{}](heatmap.svg)\n", o.heatmap->metric);
  }
  if (!e.notes.empty()) {
    md += "\n## Notes\n\n";
    for (const auto& n : e.notes) md += "- " + n + "\n";
  }
  put("report.md", md);
  outputs.commit();
  folders.keep();
  return files;
}

}  // namespace taskfp
