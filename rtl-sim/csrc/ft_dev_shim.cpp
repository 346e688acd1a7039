// ft_dev_shim: the C ABI between rtl-sim's RTL device core (src/rtl/device_ffi.rs) and the
// Verilated whole-device models of rtl/ft_device.v, one per datapath width (prefixes Vftdev512
// and Vftdev64).
//
// Owns: model construction and destruction, the clock, byte-lane packing of wide ports, and the
// optional VCD trace. Everything crosses as one plain struct (ftdev_io, mirrored by DevIo in
// Rust) per clock cycle. Wide data ports are copied only when their valid says they carry
// something. Must not: hold any state between cycles other than the model itself.
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "verilated.h"
#include "verilated_vcd_c.h"
#include "ft_lanes.h"
#include "Vftdev512.h"
#include "Vftdev64.h"

extern "C" {

// Mirrors rtl_sim::rtl::device_ffi::DevIo field for field (repr(C)); keep them in the same order.
struct ftdev_io {
    // 64-bit fields
    uint64_t time_ns;
    uint64_t reg_dirty;          // out
    uint64_t reg_dirty_ack;
    uint64_t rd_req_addr;        // out
    uint64_t rd_rsp_keep;
    uint64_t rd_rsp_fault_addr;
    uint64_t wr_req_addr;        // out
    uint64_t wr_keep;            // out
    uint64_t wr_rsp_fault_addr;
    uint64_t tx_keep;            // out
    uint64_t rx_keep;
    // 32-bit fields
    uint32_t awaddr;
    uint32_t wdata;
    uint32_t araddr;
    uint32_t rdata;              // out
    uint32_t rd_req_len;         // out
    uint32_t wr_req_len;         // out
    // byte arrays
    uint8_t rd_rsp_data[64];
    uint8_t wr_data[64];         // out
    uint8_t tx_data[64];         // out
    uint8_t rx_data[64];
    // 8-bit inputs
    uint8_t rst;
    uint8_t sched_enable;
    uint8_t wvalid;
    uint8_t bready;
    uint8_t arvalid;
    uint8_t rready;
    uint8_t rd_req_ready;
    uint8_t rd_rsp_valid;
    uint8_t rd_rsp_last;
    uint8_t rd_rsp_fault;
    uint8_t rd_rsp_tag;
    uint8_t wr_req_ready;
    uint8_t wr_ready;
    uint8_t wr_rsp_valid;
    uint8_t wr_rsp_fault;
    uint8_t wr_rsp_tag;
    uint8_t tx_ready;
    uint8_t rx_valid;
    uint8_t rx_last;
    uint8_t rx_user;
    // 8-bit outputs (sampled before the clock edge)
    uint8_t wready;
    uint8_t bvalid;
    uint8_t arready;
    uint8_t rvalid;
    uint8_t irq_valid;
    uint8_t irq_vector;
    uint8_t idle;
    uint8_t tx_work;
    uint8_t tx_req_start;
    uint8_t tx_req_done;
    uint8_t soft_reset;
    uint8_t rd_req_valid;
    uint8_t rd_req_tag;
    uint8_t rd_req_check;
    uint8_t rd_rsp_ready;
    uint8_t wr_req_valid;
    uint8_t wr_req_tag;
    uint8_t wr_valid;
    uint8_t wr_last;
    uint8_t wr_rsp_ready;
    uint8_t tx_valid;
    uint8_t tx_last;
    uint8_t rx_ready;
    uint8_t pad[5];
};

}  // extern "C"

namespace {

using ft_lanes::get_bytes;
using ft_lanes::put_bytes;

template <class T>
using port_t = std::remove_reference_t<T>;

class Dev {
  public:
    virtual ~Dev() = default;
    virtual void cycle(ftdev_io* io) = 0;
};

template <class Model>
class DevOf final : public Dev {
  public:
    explicit DevOf(const char* vcd_path) {
        ctx_ = std::make_unique<VerilatedContext>();
        ctx_->debug(0);
        ctx_->randReset(0);
        if (vcd_path != nullptr) ctx_->traceEverOn(true);
        model_ = std::make_unique<Model>(ctx_.get(), "ft_device");
        if (vcd_path != nullptr) {
            trace_ = std::make_unique<VerilatedVcdC>();
            model_->trace(trace_.get(), 99);
            trace_->open(vcd_path);
        }
        model_->clk = 1;
        model_->eval();
    }
    ~DevOf() override {
        if (trace_) trace_->close();
        model_->final();
    }

    void cycle(ftdev_io* io) override {
        Model& m = *model_;
        m.rst = io->rst;
        m.time_ns = io->time_ns;
        m.sched_enable = io->sched_enable;
        m.s_axil_wvalid = io->wvalid;
        m.s_axil_awaddr = io->awaddr;
        m.s_axil_wdata = io->wdata;
        m.s_axil_bready = io->bready;
        m.s_axil_arvalid = io->arvalid;
        m.s_axil_araddr = io->araddr;
        m.s_axil_rready = io->rready;
        m.reg_dirty_ack = static_cast<port_t<decltype(m.reg_dirty_ack)>>(io->reg_dirty_ack);
        m.m_dma_rd_req_ready = io->rd_req_ready;
        m.s_dma_rd_rsp_valid = io->rd_rsp_valid;
        if (io->rd_rsp_valid) {
            put_bytes(m.s_dma_rd_rsp_data, io->rd_rsp_data);
            m.s_dma_rd_rsp_keep = static_cast<port_t<decltype(m.s_dma_rd_rsp_keep)>>(io->rd_rsp_keep);
            m.s_dma_rd_rsp_last = io->rd_rsp_last;
            m.s_dma_rd_rsp_fault = io->rd_rsp_fault;
            m.s_dma_rd_rsp_fault_addr = io->rd_rsp_fault_addr;
            m.s_dma_rd_rsp_tag = io->rd_rsp_tag;
        }
        m.m_dma_wr_req_ready = io->wr_req_ready;
        m.m_dma_wr_ready = io->wr_ready;
        m.s_dma_wr_rsp_valid = io->wr_rsp_valid;
        m.s_dma_wr_rsp_fault = io->wr_rsp_fault;
        m.s_dma_wr_rsp_fault_addr = io->wr_rsp_fault_addr;
        m.s_dma_wr_rsp_tag = io->wr_rsp_tag;
        m.m_axis_tx_tready = io->tx_ready;
        m.s_axis_rx_tvalid = io->rx_valid;
        if (io->rx_valid) {
            put_bytes(m.s_axis_rx_tdata, io->rx_data);
            m.s_axis_rx_tkeep = static_cast<port_t<decltype(m.s_axis_rx_tkeep)>>(io->rx_keep);
            m.s_axis_rx_tlast = io->rx_last;
            m.s_axis_rx_tuser = io->rx_user;
        }

        // Low phase: inputs settle through the combinational logic.
        m.clk = 0;
        m.eval();
        if (trace_) trace_->dump(time_);
        time_ += 1;

        // Sample what the edge will see (handshakes happen at the rising edge).
        io->wready = m.s_axil_wready;
        io->bvalid = m.s_axil_bvalid;
        io->arready = m.s_axil_arready;
        io->rvalid = m.s_axil_rvalid;
        io->rdata = m.s_axil_rdata;
        io->reg_dirty = m.reg_dirty;
        io->irq_valid = m.irq_valid;
        io->irq_vector = m.irq_vector;
        io->idle = m.idle;
        io->tx_work = m.tx_work;
        io->tx_req_start = m.tx_req_start;
        io->tx_req_done = m.tx_req_done;
        io->soft_reset = m.soft_reset;
        io->rd_req_valid = m.m_dma_rd_req_valid;
        if (m.m_dma_rd_req_valid) {
            io->rd_req_addr = m.m_dma_rd_req_addr;
            io->rd_req_len = m.m_dma_rd_req_len;
            io->rd_req_tag = m.m_dma_rd_req_tag;
            io->rd_req_check = m.m_dma_rd_req_check;
        }
        io->rd_rsp_ready = m.s_dma_rd_rsp_ready;
        io->wr_req_valid = m.m_dma_wr_req_valid;
        if (m.m_dma_wr_req_valid) {
            io->wr_req_addr = m.m_dma_wr_req_addr;
            io->wr_req_len = m.m_dma_wr_req_len;
            io->wr_req_tag = m.m_dma_wr_req_tag;
        }
        io->wr_valid = m.m_dma_wr_valid;
        if (m.m_dma_wr_valid) {
            get_bytes(m.m_dma_wr_data, io->wr_data);
            io->wr_keep = m.m_dma_wr_keep;
            io->wr_last = m.m_dma_wr_last;
        }
        io->wr_rsp_ready = m.s_dma_wr_rsp_ready;
        io->tx_valid = m.m_axis_tx_tvalid;
        if (m.m_axis_tx_tvalid) {
            get_bytes(m.m_axis_tx_tdata, io->tx_data);
            io->tx_keep = m.m_axis_tx_tkeep;
            io->tx_last = m.m_axis_tx_tlast;
        }
        io->rx_ready = m.s_axis_rx_tready;

        // Rising edge.
        m.clk = 1;
        m.eval();
        if (trace_) trace_->dump(time_);
        time_ += 1;
    }

  private:
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<VerilatedVcdC> trace_;
    uint64_t time_ = 0;
};

}  // namespace

extern "C" {

// Size of ftdev_io, checked by the Rust side against its mirror.
size_t ftdev_io_size(void) { return sizeof(ftdev_io); }

// Offset of the last field of ftdev_io (a second layout check).
size_t ftdev_io_last_offset(void) { return offsetof(ftdev_io, rx_ready); }

// A new device model of the given width (512 or 64), or null for an unknown width or when it
// cannot be created. vcd_path may be null (no trace) or a path the VCD waveform is written to.
void* ftdev_new(uint32_t width, const char* vcd_path) {
    try {
        if (width == 512) return static_cast<Dev*>(new DevOf<Vftdev512>(vcd_path));
        if (width == 64) return static_cast<Dev*>(new DevOf<Vftdev64>(vcd_path));
    } catch (...) {
    }
    return nullptr;
}

void ftdev_free(void* dev) { delete static_cast<Dev*>(dev); }

// One clock cycle: drive io's inputs, sample the outputs before the rising edge into io, edge.
void ftdev_cycle(void* dev, ftdev_io* io) { static_cast<Dev*>(dev)->cycle(io); }

}  // extern "C"
