// ft_sim_shim: the C ABI between rtl-sim's Rust wrapper (src/rtl/ffi.rs) and the Verilated
// models of rtl/ft_sim_top.v, one per datapath width (prefixes Vft512 and Vft64).
//
// Owns: model construction and destruction, the clock, byte-lane packing of wide ports, and the
// optional VCD trace. Everything crosses as one plain struct (ft_io, mirrored by FtIo in Rust)
// per clock cycle. Must not: hold any state between cycles other than the model itself.
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "verilated.h"
#include "verilated_vcd_c.h"
#include "ft_lanes.h"
#include "Vft512.h"
#include "Vft64.h"

extern "C" {

// Mirrors rtl_sim::rtl::ffi::FtIo field for field (repr(C)); keep them in the same order.
struct ft_io {
    // 64-bit fields
    uint64_t tx_in_keep;
    uint64_t rx_in_keep;
    uint64_t tx_out_keep;
    // 32-bit fields
    uint32_t tx_req_len;
    uint32_t cfg_max_tso_payload;
    uint32_t cfg_rss_key[10];
    uint32_t tx_status_payload_len;
    uint32_t rx_status_rss_hash;
    // 16-bit fields
    uint16_t tx_req_mss;
    uint16_t tx_req_l3_len;
    uint16_t cfg_max_frame_len;
    uint16_t cfg_min_mss;
    uint16_t cfg_max_mss;
    uint16_t cfg_tso_flags_first;
    uint16_t cfg_tso_flags_middle;
    uint16_t cfg_tso_flags_last;
    uint16_t tx_status_segments;
    uint16_t tx_status_header_len;
    uint16_t rx_status_len;
    uint16_t pad16;
    // byte arrays
    uint8_t tx_in_data[64];
    uint8_t rx_in_data[64];
    uint8_t tx_out_data[64];
    uint8_t rx_status_rss_input[12];
    // 8-bit fields: inputs
    uint8_t rst;
    uint8_t cfg_cap_tx_ipv4_csum;
    uint8_t cfg_cap_tx_tcp_csum;
    uint8_t cfg_cap_tx_udp_csum;
    uint8_t cfg_cap_tso;
    uint8_t cfg_rx_csum_enable;
    uint8_t tx_in_valid;
    uint8_t tx_in_last;
    uint8_t tx_req_ip_csum;
    uint8_t tx_req_l4_csum;
    uint8_t tx_req_tso;
    uint8_t tx_req_l2_len;
    uint8_t tx_req_l4_len;
    uint8_t tx_out_ready;
    uint8_t tx_status_ready;
    uint8_t rx_in_valid;
    uint8_t rx_in_last;
    uint8_t rx_status_ready;
    // 8-bit fields: outputs (sampled before the clock edge)
    uint8_t tx_in_ready;
    uint8_t tx_out_valid;
    uint8_t tx_out_last;
    uint8_t tx_status_valid;
    uint8_t tx_status_error;
    uint8_t tx_status_checksummed;
    uint8_t rx_in_ready;
    uint8_t rx_status_valid;
    uint8_t rx_status_ip_csum;
    uint8_t rx_status_l4_csum;
    uint8_t rx_status_rss_type;
    uint8_t pad8;
};

}  // extern "C"

namespace {

using ft_lanes::get_bytes;
using ft_lanes::put_bytes;

class Sim {
  public:
    virtual ~Sim() = default;
    virtual void cycle(ft_io* io) = 0;
    virtual uint32_t width() const = 0;
};

template <class Model>
class SimOf final : public Sim {
  public:
    SimOf(uint32_t width, const char* vcd_path) : width_(width) {
        ctx_ = std::make_unique<VerilatedContext>();
        ctx_->debug(0);
        ctx_->randReset(0);
        if (vcd_path != nullptr) ctx_->traceEverOn(true);
        model_ = std::make_unique<Model>(ctx_.get(), "ft_sim_top");
        if (vcd_path != nullptr) {
            trace_ = std::make_unique<VerilatedVcdC>();
            model_->trace(trace_.get(), 99);
            trace_->open(vcd_path);
        }
        model_->clk = 1;
        model_->eval();
    }
    ~SimOf() override {
        if (trace_) trace_->close();
        model_->final();
    }
    uint32_t width() const override { return width_; }

    void cycle(ft_io* io) override {
        Model& m = *model_;
        m.rst = io->rst;
        m.cfg_cap_tx_ipv4_csum = io->cfg_cap_tx_ipv4_csum;
        m.cfg_cap_tx_tcp_csum = io->cfg_cap_tx_tcp_csum;
        m.cfg_cap_tx_udp_csum = io->cfg_cap_tx_udp_csum;
        m.cfg_cap_tso = io->cfg_cap_tso;
        m.cfg_max_frame_len = io->cfg_max_frame_len;
        m.cfg_min_mss = io->cfg_min_mss;
        m.cfg_max_mss = io->cfg_max_mss;
        m.cfg_max_tso_payload = io->cfg_max_tso_payload;
        m.cfg_tso_flags_first = io->cfg_tso_flags_first;
        m.cfg_tso_flags_middle = io->cfg_tso_flags_middle;
        m.cfg_tso_flags_last = io->cfg_tso_flags_last;
        m.cfg_rx_csum_enable = io->cfg_rx_csum_enable;
        // Key word 0 (key bytes 0..3) is the top word of the 320-bit port.
        for (int w = 0; w < 10; ++w) m.cfg_rss_key[9 - w] = io->cfg_rss_key[w];

        put_bytes(m.tx_s_axis_tdata, io->tx_in_data);
        m.tx_s_axis_tkeep = static_cast<std::remove_reference_t<decltype(m.tx_s_axis_tkeep)>>(io->tx_in_keep);
        m.tx_s_axis_tvalid = io->tx_in_valid;
        m.tx_s_axis_tlast = io->tx_in_last;
        m.tx_s_axis_req_len = io->tx_req_len;
        m.tx_s_axis_req_ip_csum = io->tx_req_ip_csum;
        m.tx_s_axis_req_l4_csum = io->tx_req_l4_csum;
        m.tx_s_axis_req_tso = io->tx_req_tso;
        m.tx_s_axis_req_mss = io->tx_req_mss;
        m.tx_s_axis_req_l2_len = io->tx_req_l2_len;
        m.tx_s_axis_req_l3_len = io->tx_req_l3_len;
        m.tx_s_axis_req_l4_len = io->tx_req_l4_len;
        m.tx_m_axis_tready = io->tx_out_ready;
        m.tx_m_axis_status_ready = io->tx_status_ready;

        put_bytes(m.rx_s_axis_tdata, io->rx_in_data);
        m.rx_s_axis_tkeep = static_cast<std::remove_reference_t<decltype(m.rx_s_axis_tkeep)>>(io->rx_in_keep);
        m.rx_s_axis_tvalid = io->rx_in_valid;
        m.rx_s_axis_tlast = io->rx_in_last;
        m.rx_m_status_ready = io->rx_status_ready;

        // Low phase: inputs settle through the combinational logic.
        m.clk = 0;
        m.eval();
        if (trace_) trace_->dump(time_);
        time_ += 1;

        // Sample what the edge will see (handshakes happen at the rising edge).
        io->tx_in_ready = m.tx_s_axis_tready;
        get_bytes(m.tx_m_axis_tdata, io->tx_out_data);
        io->tx_out_keep = m.tx_m_axis_tkeep;
        io->tx_out_valid = m.tx_m_axis_tvalid;
        io->tx_out_last = m.tx_m_axis_tlast;
        io->tx_status_valid = m.tx_m_axis_status_valid;
        io->tx_status_error = m.tx_m_axis_status_error;
        io->tx_status_segments = m.tx_m_axis_status_segments;
        io->tx_status_checksummed = m.tx_m_axis_status_checksummed;
        io->tx_status_header_len = m.tx_m_axis_status_header_len;
        io->tx_status_payload_len = m.tx_m_axis_status_payload_len;
        io->rx_in_ready = m.rx_s_axis_tready;
        io->rx_status_valid = m.rx_m_status_valid;
        io->rx_status_ip_csum = m.rx_m_status_ip_csum;
        io->rx_status_l4_csum = m.rx_m_status_l4_csum;
        io->rx_status_rss_type = m.rx_m_status_rss_type;
        io->rx_status_rss_hash = m.rx_m_status_rss_hash;
        io->rx_status_len = m.rx_m_status_len;
        for (int b = 0; b < 12; ++b) {
            const int lsb = 88 - 8 * b;  // input byte 0 is bits 95:88
            io->rx_status_rss_input[b] =
                static_cast<uint8_t>(m.rx_m_status_rss_input[lsb / 32] >> (lsb % 32));
        }

        // Rising edge.
        m.clk = 1;
        m.eval();
        if (trace_) trace_->dump(time_);
        time_ += 1;
    }

  private:
    uint32_t width_;
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<VerilatedVcdC> trace_;
    uint64_t time_ = 0;
};

}  // namespace

extern "C" {

// Size of ft_io, checked by the Rust side against its mirror.
size_t ftsim_io_size(void) { return sizeof(ft_io); }

// A new model of the given width (512 or 64), or null for an unknown width. vcd_path may be
// null (no trace) or a path the VCD waveform is written to.
void* ftsim_new(uint32_t width, const char* vcd_path) {
    try {
        if (width == 512) return static_cast<Sim*>(new SimOf<Vft512>(width, vcd_path));
        if (width == 64) return static_cast<Sim*>(new SimOf<Vft64>(width, vcd_path));
    } catch (...) {
    }
    return nullptr;
}

void ftsim_free(void* sim) { delete static_cast<Sim*>(sim); }

// One clock cycle: drive io's inputs, sample the outputs before the rising edge into io, edge.
void ftsim_cycle(void* sim, ft_io* io) { static_cast<Sim*>(sim)->cycle(io); }

}  // extern "C"
