// png_encode: a batch of uint8 images [N, H, W, C] (C = 1, 3 or 4) encoded as PNG files in memory,
// the images split over the OpenMP threads the generator already uses (cpu/parallel.h).
//
// Why not Pillow alone: the render pipeline writes one file per image, and on a CPU whose cores the
// generator fills, Pillow's per-image Python work and the GIL cost more than the compression itself.
// One call here encodes a whole batch with the GIL released, on threads that are already awake.
//
// The file (PNG specification, 2nd edition, ISO/IEC 15948): the signature, IHDR (8-bit greyscale,
// RGB or RGBA, no interlace), one IDAT holding the zlib stream of the filtered rows, IEND; every
// chunk ends with the CRC-32 of its type and data. Each row gets the filter (None, Sub, Up, Average,
// Paeth) whose output has the smallest sum of absolute values as signed bytes (the heuristic the
// specification recommends, as libpng and Pillow do). zlib compresses: `strategy` Z_RLE (3) or
// Z_DEFAULT_STRATEGY (0), `level` 0-9. The bytes do not depend on the thread count.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/parallel.h"

#if SGF_WITH_ZLIB
#include <zlib.h>
#endif

namespace py = pybind11;

namespace stylegan_fast {
namespace cpu {

#if SGF_WITH_ZLIB
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
enum Filter : uint8_t { kNone = 0, kSub = 1, kUp = 2, kAverage = 3, kPaeth = 4 };

// The specification's Paeth predictor, without branches (so the row loop vectorizes): the nearest of
// a (left), b (above), c (upper left) to a + b - c, ties going to a, then b.
inline int paeth_predictor(int a, int b, int c) {
  const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
  const int b_or_c = pb <= pc ? b : c;
  return pa <= pb && pa <= pc ? a : b_or_c;
}

inline uint32_t signed_sum(const uint8_t* row, int64_t n) {  // sum of |byte as int8|; n < 2^24
  uint32_t sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int v = static_cast<int8_t>(row[i]);
    sum += static_cast<uint32_t>(v < 0 ? -v : v);
  }
  return sum;
}

// Writes filter byte + filtered row of `raw` (prior: the row above, all zeros for the first) to `out`.
void filter_row(const uint8_t* raw, const uint8_t* prior, int64_t n, int bpp, uint8_t* out,
                std::array<std::vector<uint8_t>, 5>& candidates) {
  uint8_t* sub = candidates[kSub].data();
  uint8_t* up = candidates[kUp].data();
  uint8_t* avg = candidates[kAverage].data();
  uint8_t* pae = candidates[kPaeth].data();
  const int64_t head = std::min<int64_t>(bpp, n);
  for (int64_t i = 0; i < head; ++i) {  // the first pixel: no left neighbour (a = c = 0)
    const int b = prior[i];
    sub[i] = raw[i];
    up[i] = static_cast<uint8_t>(raw[i] - b);
    avg[i] = static_cast<uint8_t>(raw[i] - (b >> 1));
    pae[i] = static_cast<uint8_t>(raw[i] - b);  // the predictor of (0, b, 0) is b
  }
  for (int64_t i = head; i < n; ++i) {
    const int a = raw[i - bpp], b = prior[i], c = prior[i - bpp];
    sub[i] = static_cast<uint8_t>(raw[i] - a);
    up[i] = static_cast<uint8_t>(raw[i] - b);
    avg[i] = static_cast<uint8_t>(raw[i] - ((a + b) >> 1));
    pae[i] = static_cast<uint8_t>(raw[i] - paeth_predictor(a, b, c));
  }
  const uint8_t* rows[5] = {raw, sub, up, avg, pae};
  int best = kNone;
  uint32_t best_sum = signed_sum(raw, n);
  for (int f = kSub; f <= kPaeth; ++f) {
    const uint32_t s = signed_sum(rows[f], n);
    if (s < best_sum) best = f, best_sum = s;
  }
  out[0] = static_cast<uint8_t>(best);
  std::memcpy(out + 1, rows[best], static_cast<size_t>(n));
}

void put_u32(std::string& s, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  s.append(b, 4);
}

// Appends a chunk whose data is already in `file` at [data_begin, end); its length and type were
// reserved in front of it. The CRC covers type and data.
void finish_chunk(std::string& file, size_t type_begin) {
  const size_t data_len = file.size() - type_begin - 4;
  const uint32_t len = static_cast<uint32_t>(data_len);
  for (int k = 0; k < 4; ++k) file[type_begin - 4 + k] = static_cast<char>(len >> (24 - 8 * k));
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(file.data() + type_begin),
                          static_cast<uInt>(data_len + 4));
  put_u32(file, static_cast<uint32_t>(crc));
}

void start_chunk(std::string& file, const char* type, size_t* type_begin) {
  put_u32(file, 0);  // length, filled in by finish_chunk
  *type_begin = file.size();
  file.append(type, 4);
}

class Encoder {
 public:
  Encoder(int level, int strategy) {
    std::memset(&zs_, 0, sizeof(zs_));
    if (deflateInit2(&zs_, level, Z_DEFLATED, 15, 9, strategy) != Z_OK)
      throw std::runtime_error("png_encode: zlib deflateInit2 failed");
  }
  ~Encoder() { deflateEnd(&zs_); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  std::string encode(const uint8_t* image, int64_t H, int64_t W, int64_t C) {
    const int64_t row_bytes = W * C;
    filtered_.resize(static_cast<size_t>(H * (row_bytes + 1)));
    zeros_.assign(static_cast<size_t>(row_bytes), 0);
    for (auto& c : candidates_) c.resize(static_cast<size_t>(row_bytes));
    for (int64_t y = 0; y < H; ++y) {
      const uint8_t* prior = y ? image + (y - 1) * row_bytes : zeros_.data();
      filter_row(image + y * row_bytes, prior, row_bytes, static_cast<int>(C), filtered_.data() + y * (row_bytes + 1),
                 candidates_);
    }

    std::string file(reinterpret_cast<const char*>(kSignature), 8);
    size_t type_begin;
    start_chunk(file, "IHDR", &type_begin);
    put_u32(file, static_cast<uint32_t>(W));
    put_u32(file, static_cast<uint32_t>(H));
    const char colour_type = C == 1 ? 0 : C == 3 ? 2 : 6;
    const char ihdr_tail[5] = {8, colour_type, 0, 0, 0};  // bit depth, colour type, deflate, adaptive filters, no interlace
    file.append(ihdr_tail, 5);
    finish_chunk(file, type_begin);

    start_chunk(file, "IDAT", &type_begin);
    const size_t data_begin = file.size();
    if (deflateReset(&zs_) != Z_OK) throw std::runtime_error("png_encode: zlib deflateReset failed");
    // deflateBound is the size for one deflate call in nearly every case; grow and go on if it is not.
    file.resize(data_begin + deflateBound(&zs_, static_cast<uLong>(filtered_.size())) + 64);
    zs_.next_in = filtered_.data();
    zs_.avail_in = static_cast<uInt>(filtered_.size());
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(&file[data_begin + zs_.total_out]);
      zs_.avail_out = static_cast<uInt>(file.size() - data_begin - zs_.total_out);
      const int status = deflate(&zs_, Z_FINISH);
      if (status == Z_STREAM_END) break;
      if ((status != Z_OK && status != Z_BUF_ERROR) || zs_.avail_out != 0)
        throw std::runtime_error("png_encode: zlib deflate failed");
      file.resize(file.size() + file.size() / 2 + 1024);
    }
    file.resize(data_begin + zs_.total_out);
    finish_chunk(file, type_begin);

    start_chunk(file, "IEND", &type_begin);
    finish_chunk(file, type_begin);
    return file;
  }

 private:
  z_stream zs_;
  std::vector<uint8_t> filtered_, zeros_;
  std::array<std::vector<uint8_t>, 5> candidates_;
};

// out[n] = the PNG file of images[n], images [N, H, W, C] uint8 contiguous.
void png_encode(const uint8_t* images, int64_t N, int64_t H, int64_t W, int64_t C, int level, int strategy,
                int threads, std::vector<std::string>& out) {
  parallel_for(N, threads, [&](int64_t begin, int64_t end) {
    Encoder encoder(level, strategy);
    for (int64_t n = begin; n < end; ++n) out[n] = encoder.encode(images + n * H * W * C, H, W, C);
  });
}

}  // namespace
#endif  // SGF_WITH_ZLIB

void bind_png_encode(py::module_& m) {
#if SGF_WITH_ZLIB
  m.attr("ZLIB_VERSION") = ZLIB_VERSION;
  m.def(
      "png_encode",
      [](uintptr_t images, int64_t N, int64_t H, int64_t W, int64_t C, int level, int strategy, int threads) {
        if (N < 0 || H < 1 || W < 1 || (C != 1 && C != 3 && C != 4))
          throw std::invalid_argument("png_encode: images must be [N, H, W, C] with H, W >= 1 and C in 1, 3, 4");
        if (W * C >= (int64_t{1} << 24) || H * (W * C + 1) > 0x7fffffff)
          throw std::invalid_argument("png_encode: rows of 2^24 bytes or more, or images over 2 GiB, are not supported");
        if (level < 0 || level > 9) throw std::invalid_argument("png_encode: level must be 0-9");
        if (strategy != Z_DEFAULT_STRATEGY && strategy != Z_RLE)
          throw std::invalid_argument("png_encode: strategy must be Z_DEFAULT_STRATEGY (0) or Z_RLE (3)");
        std::vector<std::string> out(static_cast<size_t>(N));
        {
          py::gil_scoped_release nogil;
          png_encode(pointer<const uint8_t>(images), N, H, W, C, level, strategy, threads, out);
        }
        py::list files;
        for (const auto& f : out) files.append(py::bytes(f));
        return files;
      },
      "images [N, H, W, C] uint8 (C = 1, 3, 4), zlib level 0-9, strategy (0 default, 3 Z_RLE), threads -> "
      "a list of N PNG files (bytes).");
#else
  (void)m;
#endif
}

}  // namespace cpu
}  // namespace stylegan_fast
