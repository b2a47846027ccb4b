// A task's images as the training protocol sees them, held in memory as uint8: every image of
// the task's train split decoded once and preprocessed (smallest side to `size`, padded to `pad`
// by mirroring, resized to size x size), so that a study's many trainings on a task read it once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "images/image_taskset.hpp"
#include "trainer.hpp"

namespace taskfp::experiments {

struct TaskData {
  std::string name;
  int size = 0;
  std::vector<std::uint8_t> pixels;  ///< n x 3 x size x size
  std::vector<int> labels;
  std::vector<std::string> classes;
  [[nodiscard]] std::size_t count() const { return labels.size(); }
};

/// One image to 3 x size x size uint8: values in [0, 1] by the type's maximum (grey repeated to 3
/// channels), smallest side resized to `size` (the other side round(side x scale)), padded to at
/// least pad x pad around the centre by mirroring without repeating the edge (albumentations'
/// PadIfNeeded with BORDER_REFLECT_101), resized to size x size, x 255 rounded. The resizes are
/// torch's antialiased bilinear ones (images/preprocess.hpp), where mml's albumentations resizes
/// with OpenCV's plain bilinear.
std::vector<std::uint8_t> protocol_image(const Image& image, const ImageProtocol& protocol);

/// Every image of the task (its train split), in TaskImages order, decoded and preprocessed on
/// the OpenMP threads. InputError naming the image for one that cannot be read, and when the
/// task would take more than `max_bytes` of memory.
TaskData load_task_data(const ImageTaskSpec& spec, const ImageProtocol& protocol, std::size_t max_bytes);

/// The images `indices` of `data` as a TaskTensor over `pixels` and `labels` (filled here; they
/// must outlive the view).
TaskTensor task_view(const TaskData& data, const std::vector<std::size_t>& indices, std::vector<std::uint8_t>& pixels,
                     std::vector<int>& labels);

}  // namespace taskfp::experiments
