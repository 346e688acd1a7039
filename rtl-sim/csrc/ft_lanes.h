// ft_lanes: byte-lane packing between the Rust port structs and Verilated ports, shared by the
// C ABI shims (ft_sim_shim.cpp, ft_dev_shim.cpp). Byte lane b of a port is bits 8b+7:8b;
// Verilator keeps ports wider than 64 bits as little-endian 32-bit words (VlWide).
#ifndef FT_LANES_H
#define FT_LANES_H

#include <cstddef>
#include <cstdint>

#include "verilated.h"

namespace ft_lanes {

template <std::size_t N>
inline void put_bytes(VlWide<N>& dst, const uint8_t* src) {
    for (std::size_t w = 0; w < N; ++w) {
        dst[w] = static_cast<uint32_t>(src[4 * w]) | static_cast<uint32_t>(src[4 * w + 1]) << 8 |
                 static_cast<uint32_t>(src[4 * w + 2]) << 16 |
                 static_cast<uint32_t>(src[4 * w + 3]) << 24;
    }
}
inline void put_bytes(QData& dst, const uint8_t* src) {
    QData v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | src[b];
    dst = v;
}
template <std::size_t N>
inline void get_bytes(const VlWide<N>& src, uint8_t* dst) {
    for (std::size_t w = 0; w < N; ++w) {
        for (int b = 0; b < 4; ++b) dst[4 * w + b] = static_cast<uint8_t>(src[w] >> (8 * b));
    }
}
inline void get_bytes(const QData& src, uint8_t* dst) {
    for (int b = 0; b < 8; ++b) dst[b] = static_cast<uint8_t>(src >> (8 * b));
}

}  // namespace ft_lanes

#endif  // FT_LANES_H
