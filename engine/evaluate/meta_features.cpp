#include "evaluate/meta_features.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "core/error.hpp"
#include "evaluate/stats.hpp"

namespace taskfp {
namespace {

// numpy.var (ddof 0) with numpy's pairwise sums (evaluate/stats.hpp): the same sums as numpy keep
// the likelihood's values, and with them Brent's iterates, close to scipy's.
double variance_of(const std::vector<double>& x) {
  const double m = stats::numpy_mean(x);
  std::vector<double> sq(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) sq[i] = (x[i] - m) * (x[i] - m);
  return stats::numpy_sum(sq) / static_cast<double>(x.size());
}

// -boxcox_llf(lambda, x), scipy 1.10's formula.
double negative_llf(double lambda, const std::vector<double>& x, double sum_log) {
  std::vector<double> t(x.size());
  if (lambda == 0.0) {
    for (std::size_t i = 0; i < x.size(); ++i) t[i] = std::log(x[i]);
  } else {
    for (std::size_t i = 0; i < x.size(); ++i) t[i] = std::pow(x[i], lambda) / lambda;
  }
  const double n = static_cast<double>(x.size());
  return -((lambda - 1.0) * sum_log - n / 2.0 * std::log(variance_of(t)));
}

// scipy.optimize.bracket from (xa, xb): a triple with f(xb) below f(xa) and f(xc).
struct Bracket {
  double xa, xb, xc, fa, fb, fc;
};
Bracket bracket(const std::function<double(double)>& f, double xa, double xb) {
  constexpr double kGold = 1.618034, kVerySmall = 1e-21, kGrowLimit = 110.0;
  constexpr int kMaxIter = 1000;
  double fa = f(xa), fb = f(xb);
  if (fa < fb) std::swap(xa, xb), std::swap(fa, fb);
  double xc = xb + kGold * (xb - xa), fc = f(xc);
  for (int iter = 0; fc < fb; ++iter) {
    require(iter <= kMaxIter, "Box-Cox: no bracket of the likelihood's maximum was found");
    const double tmp1 = (xb - xa) * (fb - fc), tmp2 = (xb - xc) * (fb - fa), val = tmp2 - tmp1;
    const double denom = std::abs(val) < kVerySmall ? 2.0 * kVerySmall : 2.0 * val;
    double w = xb - ((xb - xc) * tmp2 - (xb - xa) * tmp1) / denom, fw;
    const double wlim = xb + kGrowLimit * (xc - xb);
    if ((w - xc) * (xb - w) > 0.0) {
      fw = f(w);
      if (fw < fc) return {xb, w, xc, fb, fw, fc};
      if (fw > fb) return {xa, xb, w, fa, fb, fw};
      w = xc + kGold * (xc - xb);
      fw = f(w);
    } else if ((w - wlim) * (wlim - xc) >= 0.0) {
      w = wlim;
      fw = f(w);
    } else if ((w - wlim) * (xc - w) > 0.0) {
      fw = f(w);
      if (fw < fc) {
        xb = xc, xc = w, w = xc + kGold * (xc - xb);
        fb = fc, fc = fw, fw = f(w);
      }
    } else {
      w = xc + kGold * (xc - xb);
      fw = f(w);
    }
    xa = xb, xb = xc, xc = w;
    fa = fb, fb = fc, fc = fw;
  }
  return {xa, xb, xc, fa, fb, fc};
}

// Brent's method from a bracket, with scipy.optimize.Brent's constants and steps.
double brent_minimize(const std::function<double(double)>& f, const Bracket& br) {
  constexpr double kTol = 1.48e-8, kMinTol = 1.0e-11, kCg = 0.3819660;
  constexpr int kMaxIter = 500;
  double x = br.xb, w = br.xb, v = br.xb, fx = br.fb, fw = br.fb, fv = br.fb;
  double a = br.xa < br.xc ? br.xa : br.xc, b = br.xa < br.xc ? br.xc : br.xa;
  double deltax = 0.0, rat = 0.0;
  for (int iter = 0; iter < kMaxIter; ++iter) {
    const double tol1 = kTol * std::abs(x) + kMinTol, tol2 = 2.0 * tol1, xmid = 0.5 * (a + b);
    if (std::abs(x - xmid) < (tol2 - 0.5 * (b - a))) break;
    if (std::abs(deltax) <= tol1) {
      deltax = x >= xmid ? a - x : b - x;  // golden section
      rat = kCg * deltax;
    } else {  // parabolic step
      double tmp1 = (x - w) * (fx - fv), tmp2 = (x - v) * (fx - fw);
      double p = (x - v) * tmp2 - (x - w) * tmp1;
      tmp2 = 2.0 * (tmp2 - tmp1);
      if (tmp2 > 0.0) p = -p;
      tmp2 = std::abs(tmp2);
      const double dx_temp = deltax;
      deltax = rat;
      if (p > tmp2 * (a - x) && p < tmp2 * (b - x) && std::abs(p) < std::abs(0.5 * tmp2 * dx_temp)) {
        rat = p * 1.0 / tmp2;
        const double u = x + rat;
        if ((u - a) < tol2 || (b - u) < tol2) rat = xmid - x >= 0 ? tol1 : -tol1;
      } else {
        deltax = x >= xmid ? a - x : b - x;
        rat = kCg * deltax;
      }
    }
    const double u = std::abs(rat) < tol1 ? (rat >= 0 ? x + tol1 : x - tol1) : x + rat;
    const double fu = f(u);
    if (fu > fx) {
      if (u < x) a = u;
      else b = u;
      if (fu <= fw || w == x) {
        v = w, w = u, fv = fw, fw = fu;
      } else if (fu <= fv || v == x || v == w) {
        v = u, fv = fu;
      }
    } else {
      if (u >= x) a = x;
      else b = x;
      v = w, w = x, x = u;
      fv = fw, fw = fx, fx = fu;
    }
  }
  return x;
}

}  // namespace

BoxCox boxcox_mle(const std::vector<double>& x) {
  require(x.size() >= 2, "Box-Cox needs at least 2 values (got {})", x.size());
  std::vector<double> logs;
  for (double v : x) {
    require(std::isfinite(v) && v > 0.0, "Box-Cox needs positive finite values (got {})", v);
    logs.push_back(std::log(v));
  }
  const double sum_log = stats::numpy_sum(logs);
  require(std::any_of(x.begin(), x.end(), [&](double v) { return v != x.front(); }),
          "Box-Cox needs values that are not all equal (all are {})", x.front());
  const std::function<double(double)> f = [&](double lambda) { return negative_llf(lambda, x, sum_log); };
  BoxCox out;
  out.lambda = brent_minimize(f, bracket(f, -2.0, 2.0));
  out.values.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    out.values[i] = std::abs(out.lambda) < 1e-19 ? std::log(x[i]) : std::expm1(out.lambda * std::log(x[i])) / out.lambda;
  return out;
}

std::vector<double> zscore(const std::vector<double>& x) {
  require(!x.empty(), "zscore of no values");
  const double m = stats::numpy_mean(x), sd = std::sqrt(variance_of(x));
  require(sd > 0.0, "zscore of {} equal values", x.size());
  std::vector<double> z(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) z[i] = (x[i] - m) / sd;
  return z;
}

std::unordered_map<std::string, double> transformed_sample_counts(const TaskInfoTable& info) {
  std::vector<double> counts;
  for (const auto& r : info.rows()) counts.push_back(r.num_samples);
  const auto z = zscore(boxcox_mle(counts).values);
  std::unordered_map<std::string, double> out;
  std::size_t i = 0;
  for (const auto& r : info.rows()) out[r.name] = z[i++];
  return out;
}

}  // namespace taskfp
