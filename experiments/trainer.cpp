// Loading the training plugin (libtaskfp_train.so) on first use.
#include "trainer.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/plugin.hpp"

namespace taskfp::experiments {

#ifdef TASKFP_HAVE_TORCH
bool trainer_built() { return true; }
const TrainerPlugin& trainer_plugin() {
  static const TrainerPlugin* loaded = [] {
    std::string why;
    const auto* p = load_plugin<TrainerPlugin>("libtaskfp_train.so", "TASKFP_TRAIN_PLUGIN",
                                               "taskfp_trainer_plugin", kTrainerPluginVersion, why);
    if (!p)
      throw InputError(fmt::format("cannot load the training plugin libtaskfp_train.so ({}); rebuild taskfp, or "
                                   "point TASKFP_TRAIN_PLUGIN at the file",
                                   why));
    return p;
  }();
  return *loaded;
}
#else
bool trainer_built() { return false; }
const TrainerPlugin& trainer_plugin() {
  throw InputError("this taskfp was built without LibTorch, which trains the transfer jobs (install libtorch-dev "
                   "and rebuild)");
}
#endif

}  // namespace taskfp::experiments
