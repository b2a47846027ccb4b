// IDX reading through zlib's gz* functions, which read plain files transparently too.
#include "images/idx.hpp"

#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>

#include "core/error.hpp"

namespace taskfp {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f) gzclose(f);
  }
};

class IdxFile {
 public:
  explicit IdxFile(std::string path) : path_(std::move(path)), file_(gzopen(path_.c_str(), "rb")) {
    require(file_ != nullptr, "cannot open IDX file '{}': {}", path_, std::strerror(errno ? errno : ENOENT));
    gzbuffer(file_.get(), 1 << 16);
  }

  // Exactly n bytes, or InputError saying the file ends early or is corrupt.
  void read(void* out, std::size_t n, const char* what) {
    auto* dst = static_cast<unsigned char*>(out);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
      const int got = gzread(file_.get(), dst, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(file_.get(), &code);
        throw InputError(fmt::format("IDX file '{}' is corrupt (reading its {}: {})", path_, what, msg));
      }
      if (got == 0)
        throw InputError(fmt::format("IDX file '{}' is truncated: it ends inside its {}", path_, what));
      dst += got;
      n -= static_cast<std::size_t>(got);
    }
  }

  // The header: magic (0, 0, type 0x08 = unsigned byte, dimension count), then big-endian sizes.
  std::vector<std::int64_t> header(int dims, const char* kind) {
    std::array<unsigned char, 4> magic{};
    read(magic.data(), 4, "header");
    require(magic[0] == 0 && magic[1] == 0 && magic[2] == 0x08 && magic[3] == dims,
            "'{}' is not an IDX {} file (magic {:02x}{:02x}{:02x}{:02x}, expected 000008{:02x}: "
            "unsigned bytes in {} dimension{})",
            path_, kind, magic[0], magic[1], magic[2], magic[3], dims, dims, dims == 1 ? "" : "s");
    std::vector<std::int64_t> sizes;
    for (int d = 0; d < dims; ++d) {
      std::array<unsigned char, 4> b{};
      read(b.data(), 4, "header");
      const std::uint32_t v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
      require(v <= static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max()),
              "IDX file '{}' claims a size of {} in its header (more than 2^31)", path_, v);
      sizes.push_back(static_cast<std::int64_t>(v));
    }
    return sizes;
  }

  // Whether bytes follow what the header announced (a file holding more is not the file meant).
  bool at_end() {
    unsigned char extra = 0;
    return gzread(file_.get(), &extra, 1) == 0;
  }

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<gzFile_s, GzCloser> file_;
};

}  // namespace

Image IdxImages::image(std::int64_t k) const {
  require(k >= 0 && k < count, "IDX file '{}' has no image {} (it holds {})", images_path, k, count);
  Image img;
  img.width = static_cast<int>(columns);
  img.height = static_cast<int>(rows);
  img.channels = 1;
  img.bit_depth = 8;
  const auto per = static_cast<std::size_t>(rows * columns);
  const auto* first = pixels.data() + static_cast<std::size_t>(k) * per;
  img.samples.assign(first, first + per);
  return img;
}

std::shared_ptr<const IdxImages> read_idx(const std::string& images_path, const std::string& labels_path,
                                          std::uint64_t max_pixels) {
  auto out = std::make_shared<IdxImages>();
  out->images_path = images_path;
  out->labels_path = labels_path;

  IdxFile labels(labels_path);
  const auto lsize = labels.header(1, "label");
  IdxFile images(images_path);
  const auto isize = images.header(3, "image");
  out->count = isize[0], out->rows = isize[1], out->columns = isize[2];
  require(out->rows > 0 && out->columns > 0, "IDX file '{}' holds images of {} x {} pixels", images_path,
          out->rows, out->columns);
  require(static_cast<std::uint64_t>(out->columns) <= max_pixels / static_cast<std::uint64_t>(out->rows),
          "IDX file '{}' holds images of {} x {} pixels, more than the limit of {} (raise it with "
          "`taskfp extract --max-image-pixels`)",
          images_path, out->rows, out->columns, max_pixels);
  require(lsize[0] == out->count, "IDX files '{}' and '{}' do not match: {} images but {} labels", images_path,
          labels_path, out->count, lsize[0]);

  // Read in slices, so that a header claiming more than the file holds fails at the file's end
  // instead of allocating what it claims first.
  const auto total = static_cast<std::size_t>(out->count) * static_cast<std::size_t>(out->rows) *
                     static_cast<std::size_t>(out->columns);
  constexpr std::size_t kSlice = std::size_t{64} << 20;
  try {
    for (std::size_t done = 0; done < total;) {
      const std::size_t n = std::min(kSlice, total - done);
      out->pixels.resize(done + n);
      images.read(out->pixels.data() + done, n, "pixels");
      done += n;
    }
    out->labels.resize(static_cast<std::size_t>(out->count));
    labels.read(out->labels.data(), out->labels.size(), "labels");
  } catch (const std::bad_alloc&) {
    throw InputError(fmt::format("IDX file '{}': not enough memory for its {} images of {} x {}", images_path,
                                 out->count, out->rows, out->columns));
  }
  require(images.at_end(), "IDX file '{}' holds more bytes than its header announces", images_path);
  require(labels.at_end(), "IDX file '{}' holds more bytes than its header announces", labels_path);
  return out;
}

}  // namespace taskfp
