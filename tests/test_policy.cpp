// experiments/policy: the paper's published Faster AutoAugment policies (AutoAlbument JSON) read
// as released, written back unchanged, and bad policies refused with the fault's JSON path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "experiments/policy.hpp"
#include "test_util.hpp"

namespace taskfp::experiments {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> published_policies() {
  std::vector<std::string> files;
  const fs::path dir = test::paper_cache() + "/aa-policies";
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Policy, ReadsThePapersPublishedPolicies) {
  const auto files = published_policies();
  if (files.empty()) GTEST_SKIP() << "the paper cache's aa-policies/ is absent";
  ASSERT_EQ(files.size(), 6u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const auto p = read_policy(f);
    // The Faster AutoAugment export: 10 sub-policies of weight 0.1, 3 stages of 15 operations
    // (3 RGB shifts, 2 brightness/contrast, solarize, 2 flips, 4 shift-scale-rotates, 2 dropouts,
    // identity), the stage weights summing to one.
    ASSERT_EQ(p.sub_policies.size(), 10u);
    for (const auto& sp : p.sub_policies) {
      EXPECT_DOUBLE_EQ(sp.weight, 0.1);
      ASSERT_EQ(sp.stages.size(), 3u);
      for (const auto& st : sp.stages) {
        ASSERT_EQ(st.ops.size(), 15u);
        double total = 0;
        std::map<AugmentOpKind, int> count;
        for (const auto& op : st.ops) {
          total += op.weight;
          ++count[op.kind];
        }
        EXPECT_NEAR(total, 1.0, 1e-6);
        EXPECT_EQ(count[AugmentOpKind::RGBShift], 3);
        EXPECT_EQ(count[AugmentOpKind::ShiftScaleRotate], 4);
        EXPECT_EQ(count[AugmentOpKind::CoarseDropout], 2);
        EXPECT_EQ(count[AugmentOpKind::Identity], 1);
      }
    }
  }
  // Values compared with the file's own JSON, read by nlohmann directly: the first sub-policy's
  // first stage of the first file.
  std::ifstream in(files[0]);
  const auto doc = nlohmann::json::parse(in);
  const auto& ops = doc["transform"]["transforms"][0]["transforms"][0]["transforms"][0]["transforms"];
  const auto p = read_policy(files[0]);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& op = p.sub_policies[0].stages[0].ops[i];
    EXPECT_EQ(op_name(op.kind), ops[i]["__class_fullname__"].get<std::string>());
    EXPECT_EQ(op.weight, ops[i]["p"].get<double>());
    if (op.kind == AugmentOpKind::ShiftScaleRotate) {
      EXPECT_EQ(op.rotate.lo, ops[i]["rotate_limit"][0].get<double>());
      EXPECT_EQ(op.scale.hi, ops[i]["scale_limit"][1].get<double>());
    }
    if (op.kind == AugmentOpKind::RGBShift) {
      EXPECT_EQ(op.rgb_shift[0].lo, ops[i]["r_shift_limit"][0].get<double>());
    }
  }
}

TEST(Policy, WrittenPoliciesReadBackTheSame) {
  const auto files = published_policies();
  if (files.empty()) GTEST_SKIP() << "the paper cache's aa-policies/ is absent";
  const auto p = read_policy(files[0]);
  const auto again = parse_policy(policy_json(p), "written");
  ASSERT_EQ(again.sub_policies.size(), p.sub_policies.size());
  for (std::size_t i = 0; i < p.sub_policies.size(); ++i)
    for (std::size_t j = 0; j < p.sub_policies[i].stages.size(); ++j)
      for (std::size_t k = 0; k < p.sub_policies[i].stages[j].ops.size(); ++k) {
        const auto& a = p.sub_policies[i].stages[j].ops[k];
        const auto& b = again.sub_policies[i].stages[j].ops[k];
        EXPECT_EQ(a.kind, b.kind);
        EXPECT_EQ(a.weight, b.weight);
        EXPECT_EQ(a.rotate.lo, b.rotate.lo);
        EXPECT_EQ(a.brightness.hi, b.brightness.hi);
        EXPECT_EQ(a.max_holes, b.max_holes);
      }
}

const char* kSmall = R"({"__version__": "1.3.0", "transform": {"__class_fullname__": "Compose", "p": 1.0,
  "transforms": [{"__class_fullname__": "OneOf", "p": 1, "transforms": [
    {"__class_fullname__": "Sequential", "p": 0.5, "transforms": [
      {"__class_fullname__": "OneOf", "p": 1.0, "transforms": [
        {"__class_fullname__": "Solarize", "always_apply": false, "p": 0.25, "threshold": [128, 128]},
        {"__class_fullname__": "NoOp", "always_apply": false, "p": 0.75}]}]}]}]}})";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("fixture has no " + from);
  return text.replace(at, from.size(), to);
}

void expect_refused(const std::string& text, const std::string& words) {
  try {
    parse_policy(text, "p.json");
    ADD_FAILURE() << "accepted a policy that should fail with: " << words;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("p.json"), std::string::npos) << e.what();
  }
}

TEST(Policy, RefusesBrokenPoliciesNamingWhere) {
  const auto p = parse_policy(kSmall, "small");
  ASSERT_EQ(p.sub_policies.size(), 1u);
  EXPECT_EQ(p.sub_policies[0].stages[0].ops[0].threshold.lo, 128);
  expect_refused(std::string(kSmall).substr(0, 60), "not valid JSON");
  expect_refused(with(kSmall, "\"Solarize\"", "\"Posterize\""), "operation 'Posterize'");
  expect_refused(with(kSmall, "\"threshold\": [128, 128]", "\"thresh\": 1"),
                 "transform.transforms[0].transforms[0].transforms[0].transforms[0]: 'threshold' is missing");
  expect_refused(with(kSmall, "\"p\": 0.25", "\"p\": -0.25"), "negative");
  expect_refused(with(with(kSmall, "\"p\": 0.25", "\"p\": 0"), "\"p\": 0.75", "\"p\": 0"), "sum to zero");
  expect_refused(with(kSmall, "\"Sequential\"", "\"Compose\""), "expected a Sequential");
  expect_refused(with(kSmall, "[128, 128]", "[200, 100]"), "not an interval");
}

TEST(Policy, PublishedPoliciesAreFoundByTaskAndSeed) {
  test::TempDir dir;
  namespace fs = std::filesystem;
  for (const char* sub : {"search_0/AA/DSET001_x%TASK001_skin", "search_1/AA/DSET001_x%TASK001_skin",
                          "search_0/AA/DSET002_y%TASK001_skin_lesions"}) {
    fs::create_directories(dir.file(sub));
    std::ofstream(dir.file(std::string(sub) + "/policy_0001.json")) << kSmall;
  }
  const std::string root = dir.file("");
  EXPECT_EQ(find_published_policy(root, "skin", 1), dir.file("search_1/AA/DSET001_x%TASK001_skin/policy_0001.json"));
  EXPECT_EQ(find_published_policy(root, "skin", 0), dir.file("search_0/AA/DSET001_x%TASK001_skin/policy_0001.json"));
  // One policy only: it serves every seed. None, or several without one for the seed: refused.
  EXPECT_EQ(find_published_policy(root, "skin_lesions", 2),
            dir.file("search_0/AA/DSET002_y%TASK001_skin_lesions/policy_0001.json"));
  EXPECT_THROW(find_published_policy(root, "lesions_x", 0), InputError);
  EXPECT_THROW(find_published_policy(root, "skin", 2), InputError);
  if (!published_policies().empty()) {
    const auto path = find_published_policy(test::paper_cache() + "/aa-policies", "lapgyn4_surgical_actions", 0);
    EXPECT_NE(path.find("TASK004_lapgyn4_surgical_actions/policy_0001.json"), std::string::npos) << path;
    EXPECT_EQ(read_policy(path).sub_policies.size(), 10u);
  }
}

}  // namespace
}  // namespace taskfp::experiments
