// ft_device: the whole ferrotoe NIC in RTL: register file, queue engines, offload engines,
// completion writer and DMA arbitration behind one register port, one DMA master and the
// Ethernet MAC streams (hw-spec SPEC.md 2-9).
//
//              s_axil (registers) --> ft_regs <--> ft_stats
//                                       |  ^ queue state, config / updates, errors
//             +-------------------------+--+--------------------------+
//             v                            v                          v
//   ft_txq (scheduler, descriptors,   ft_cpl (completion writer,   ft_rxq (frame store,
//   ft_gather, ft_tx_engine) ------>  CQ reservations) <--------  ft_rx_csum, steering)
//     |  DMA reads    | m_axis_tx        | DMA writes               | DMA reads/writes  ^ s_axis_rx
//     +---> ft_dma_rd_mux <--------------+--------------------------+                   |
//           ft_dma_wr_mux <--------------+--------------------------+
//
// Interfaces:
// - Register port (AXI-Lite style, see ft_regs): 32-bit words, address and data together on
//   the write channel, B acknowledge, AR/R reads one cycle after acceptance.
// - DMA master (see ft_dma_rd_mux, ft_dma_wr_mux): read requests (ADDR, LEN, TAG, CHECK) with
//   in-order responses of packed data beats or one FAULT beat; write requests (ADDR, LEN, TAG)
//   followed by their data beats, acknowledged with FAULT or not. Behind it sits the host's
//   memory through an IOMMU: an unmapped address is a fault, never a bus hang.
// - MAC: m_axis_tx_* frames to send, s_axis_rx_* received frames (s_axis_rx_tuser on the last
//   beat: the MAC truncated the frame), AXI-Stream with tkeep contiguous from lane 0.
// - time_ns: device time (a PTP hardware clock in a real NIC) for TIMESTAMP and completions.
// - irq_valid/irq_vector: one pulse per signalled interrupt (an MSI-X message).
// - Simulation support, inert in hardware: sched_enable (tie high) holds the start of new TX
//   requests; reg_dirty/reg_dirty_ack track register groups the device changed (see ft_regs);
//   idle says nothing is in flight and nothing can start; tx_work that a TX queue has work it
//   could start; tx_req_start/tx_req_done pulse per TX request; soft_reset pulses when
//   CTRL.RESET is written (the DMA and MAC sides then drop partial transactions).
//
// Parameters describe the build; IDENT reports them. Must not: contain behaviour of its own.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_device #(
    // Beat width in bits of the MAC streams and DMA data: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Queue and interrupt vector counts.
    parameter TX_QUEUES = 4,
    parameter RX_QUEUES = 4,
    parameter CQ_COUNT = 8,
    parameter IRQ_COUNT = 8,
    // Ring sizes (log2 of entries) and the most descriptors per TX frame.
    parameter RING_MIN_LOG2 = 3,
    parameter RING_MAX_LOG2 = 15,
    parameter MAX_SG = 16,
    // Frame and TSO limits.
    parameter MAX_FRAME_LEN = 9216,
    parameter MAX_TSO_PAYLOAD = 65535,
    parameter MIN_MSS = 64,
    parameter MAX_MSS = 9162,
    // IDENT.CAPS: every offload of the RTL.
    parameter CAPS = `FT_IDENT_CAPS_TX_IPV4_CSUM_MASK | `FT_IDENT_CAPS_TX_TCP_CSUM_MASK
                   | `FT_IDENT_CAPS_TX_UDP_CSUM_MASK | `FT_IDENT_CAPS_RX_CSUM_MASK
                   | `FT_IDENT_CAPS_TSO_MASK | `FT_IDENT_CAPS_RSS_MASK
                   | `FT_IDENT_CAPS_TIMESTAMP_MASK | `FT_IDENT_CAPS_TX_SCATTER_GATHER_MASK,
    // IDENT.DATAPATH clock and IDENT.DEVICE_ID / BUILD_ID.
    parameter CLOCK_MHZ = 250,
    parameter IMPLEMENTATION = `FT_IMPLEMENTATION_RTL_VERILATOR,
    parameter REVISION = 1,
    parameter BUILD_ID = 0,
    // log2 of the TX requests in flight between descriptor processing and completion.
    parameter INFLIGHT_LOG2 = 4,
    // Derived, do not override.
    parameter KEEP_WIDTH = DATA_WIDTH / 8,
    parameter DIRTY_WIDTH = 3 + 2 * TX_QUEUES + 2 * RX_QUEUES + CQ_COUNT + IRQ_COUNT
) (
    input  wire                                    clk,
    input  wire                                    rst,
    input  wire [63:0]                             time_ns,
    input  wire                                    sched_enable,

    // Register port
    input  wire                                    s_axil_wvalid,
    output wire                                    s_axil_wready,
    input  wire [31:0]                             s_axil_awaddr,
    input  wire [31:0]                             s_axil_wdata,
    output wire                                    s_axil_bvalid,
    input  wire                                    s_axil_bready,
    input  wire                                    s_axil_arvalid,
    output wire                                    s_axil_arready,
    input  wire [31:0]                             s_axil_araddr,
    output wire                                    s_axil_rvalid,
    input  wire                                    s_axil_rready,
    output wire [31:0]                             s_axil_rdata,

    // DMA master: reads
    output wire                                    m_dma_rd_req_valid,
    input  wire                                    m_dma_rd_req_ready,
    output wire [63:0]                             m_dma_rd_req_addr,
    output wire [31:0]                             m_dma_rd_req_len,
    output wire [3:0]                              m_dma_rd_req_tag,
    output wire                                    m_dma_rd_req_check,
    input  wire                                    s_dma_rd_rsp_valid,
    output wire                                    s_dma_rd_rsp_ready,
    input  wire [DATA_WIDTH-1:0]                   s_dma_rd_rsp_data,
    input  wire [KEEP_WIDTH-1:0]                   s_dma_rd_rsp_keep,
    input  wire                                    s_dma_rd_rsp_last,
    input  wire                                    s_dma_rd_rsp_fault,
    input  wire [63:0]                             s_dma_rd_rsp_fault_addr,
    input  wire [3:0]                              s_dma_rd_rsp_tag,

    // DMA master: writes
    output wire                                    m_dma_wr_req_valid,
    input  wire                                    m_dma_wr_req_ready,
    output wire [63:0]                             m_dma_wr_req_addr,
    output wire [31:0]                             m_dma_wr_req_len,
    output wire                                    m_dma_wr_req_tag,
    output wire                                    m_dma_wr_valid,
    input  wire                                    m_dma_wr_ready,
    output wire [DATA_WIDTH-1:0]                   m_dma_wr_data,
    output wire [KEEP_WIDTH-1:0]                   m_dma_wr_keep,
    output wire                                    m_dma_wr_last,
    input  wire                                    s_dma_wr_rsp_valid,
    output wire                                    s_dma_wr_rsp_ready,
    input  wire                                    s_dma_wr_rsp_fault,
    input  wire [63:0]                             s_dma_wr_rsp_fault_addr,
    input  wire                                    s_dma_wr_rsp_tag,

    // MAC
    output wire [DATA_WIDTH-1:0]                   m_axis_tx_tdata,
    output wire [KEEP_WIDTH-1:0]                   m_axis_tx_tkeep,
    output wire                                    m_axis_tx_tvalid,
    input  wire                                    m_axis_tx_tready,
    output wire                                    m_axis_tx_tlast,
    input  wire [DATA_WIDTH-1:0]                   s_axis_rx_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_axis_rx_tkeep,
    input  wire                                    s_axis_rx_tvalid,
    output wire                                    s_axis_rx_tready,
    input  wire                                    s_axis_rx_tlast,
    input  wire                                    s_axis_rx_tuser,

    // Interrupts
    output wire                                    irq_valid,
    output wire [7:0]                              irq_vector,

    // Simulation support
    output wire [DIRTY_WIDTH-1:0]                  reg_dirty,
    input  wire [DIRTY_WIDTH-1:0]                  reg_dirty_ack,
    output wire                                    idle,
    output wire                                    tx_work,
    output wire                                    tx_req_start,
    output wire                                    tx_req_done,
    output wire                                    soft_reset
);

localparam TXQ_W = TX_QUEUES > 1 ? $clog2(TX_QUEUES) : 1;
localparam RXQ_W = RX_QUEUES > 1 ? $clog2(RX_QUEUES) : 1;
localparam CQ_W = CQ_COUNT > 1 ? $clog2(CQ_COUNT) : 1;
localparam RD_W = DATA_WIDTH < `FT_RXD_BITS ? DATA_WIDTH : `FT_RXD_BITS;

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (KEEP_WIDTH * 8 != DATA_WIDTH) begin
        $display("Error: KEEP_WIDTH is derived; do not override it (instance %m)");
        $finish;
    end
end

wire soft_rst;
wire rst_int = rst || soft_rst;

// ---- Register file outputs
wire ctrl_enable;
wire ctrl_rx_csum;
wire ctrl_rss;
wire [`FT_CONTROL_TSO_FLAGS_FIRST_FLAGS_WIDTH-1:0] tso_first;
wire [`FT_CONTROL_TSO_FLAGS_MIDDLE_FLAGS_WIDTH-1:0] tso_middle;
wire [`FT_CONTROL_TSO_FLAGS_LAST_FLAGS_WIDTH-1:0] tso_last;
wire [`FT_RSS_KEY_WORDS*32-1:0] rss_key;
wire [`FT_RSS_TABLE_ENTRIES*8-1:0] rss_table;
wire [63:0] time_now;
wire [TX_QUEUES*64-1:0] txq_base;
wire [TX_QUEUES*5-1:0] txq_log2;
wire [TX_QUEUES-1:0] txq_enabled;
wire [TX_QUEUES*CQ_W-1:0] txq_cq;
wire [TX_QUEUES*16-1:0] txq_prod;
wire [TX_QUEUES*16-1:0] txq_cons;
wire [TX_QUEUES-1:0] txq_doorbell;
wire [RX_QUEUES*64-1:0] rxq_base;
wire [RX_QUEUES*5-1:0] rxq_log2;
wire [RX_QUEUES-1:0] rxq_enabled;
wire [RX_QUEUES*CQ_W-1:0] rxq_cq;
wire [RX_QUEUES*16-1:0] rxq_prod;
wire [RX_QUEUES*16-1:0] rxq_cons;
wire [CQ_COUNT*64-1:0] cq_base;
wire [CQ_COUNT*5-1:0] cq_log2;
wire [CQ_COUNT-1:0] cq_enabled;
wire [CQ_COUNT*16-1:0] cq_prod;
wire [CQ_COUNT*16-1:0] cq_cons;

// ---- Engine updates
wire txq_cons_we;
wire [TXQ_W-1:0] txq_cons_q;
wire [15:0] txq_cons_val;
wire rxq_cons_we;
wire [RXQ_W-1:0] rxq_cons_q;
wire [15:0] rxq_cons_val;
wire cq_post_valid;
wire [CQ_W-1:0] cq_post_q;
wire [2:0] err_valid;
wire [2:0] err_ready;
wire [3*8-1:0] err_code;
wire [3*16-1:0] err_queue;
wire [3*64-1:0] err_addr;
wire [2:0] err_stop;
localparam [1:0] KIND_TX = `FT_QUEUE_KIND_TX;
localparam [1:0] KIND_RX = `FT_QUEUE_KIND_RX;
wire [1:0] cpl_err_kind;

// ---- Statistics
wire [31:0] stats_rd_data;
wire stats_rd_hit;
wire [31:0] stats_no_queue;
wire [TX_QUEUES-1:0] stats_dirty_tx;
wire [RX_QUEUES-1:0] stats_dirty_rx;
wire stats_dirty_control;
wire tx_st_valid;
wire [TXQ_W-1:0] tx_st_q;
wire tx_st_error;
wire [`FT_CPL_SEGMENTS_WIDTH-1:0] tx_st_frames;
wire [31:0] tx_st_bytes;
wire [`FT_CPL_SEGMENTS_WIDTH-1:0] tx_st_csum;
wire [`FT_CPL_SEGMENTS_WIDTH-1:0] tx_st_tso;
wire rx_st_valid;
wire [RXQ_W-1:0] rx_st_q;
wire [1:0] rx_st_outcome;
wire [31:0] rx_st_bytes;
wire rx_st_good;
wire rx_st_bad;

ft_regs #(
    .TX_QUEUES(TX_QUEUES),
    .RX_QUEUES(RX_QUEUES),
    .CQ_COUNT(CQ_COUNT),
    .IRQ_COUNT(IRQ_COUNT),
    .RING_MIN_LOG2(RING_MIN_LOG2),
    .RING_MAX_LOG2(RING_MAX_LOG2),
    .MAX_SG(MAX_SG),
    .CAPS(CAPS),
    .MAX_TSO_PAYLOAD(MAX_TSO_PAYLOAD),
    .MAX_FRAME_LEN(MAX_FRAME_LEN),
    .MIN_MSS(MIN_MSS),
    .MAX_MSS(MAX_MSS),
    .DATAPATH_BITS(DATA_WIDTH),
    .CLOCK_MHZ(CLOCK_MHZ),
    .IMPLEMENTATION(IMPLEMENTATION),
    .REVISION(REVISION),
    .BUILD_ID(BUILD_ID)
) u_regs (
    .clk(clk),
    .rst(rst),
    .soft_reset(soft_rst),
    .time_ns(time_ns),
    .s_axil_wvalid(s_axil_wvalid),
    .s_axil_wready(s_axil_wready),
    .s_axil_awaddr(s_axil_awaddr),
    .s_axil_wdata(s_axil_wdata),
    .s_axil_bvalid(s_axil_bvalid),
    .s_axil_bready(s_axil_bready),
    .s_axil_arvalid(s_axil_arvalid),
    .s_axil_arready(s_axil_arready),
    .s_axil_araddr(s_axil_araddr),
    .s_axil_rvalid(s_axil_rvalid),
    .s_axil_rready(s_axil_rready),
    .s_axil_rdata(s_axil_rdata),
    .stats_rd_data(stats_rd_data),
    .stats_rd_hit(stats_rd_hit),
    .stats_rx_drops_no_queue(stats_no_queue),
    .stats_dirty_tx(stats_dirty_tx),
    .stats_dirty_rx(stats_dirty_rx),
    .stats_dirty_control(stats_dirty_control),
    .reg_dirty(reg_dirty),
    .reg_dirty_ack(reg_dirty_ack),
    .ctrl_enable(ctrl_enable),
    .ctrl_rx_csum(ctrl_rx_csum),
    .ctrl_rss(ctrl_rss),
    .tso_flags_first(tso_first),
    .tso_flags_middle(tso_middle),
    .tso_flags_last(tso_last),
    .rss_key(rss_key),
    .rss_table(rss_table),
    .time_now(time_now),
    .txq_base(txq_base),
    .txq_log2(txq_log2),
    .txq_enabled(txq_enabled),
    .txq_cq(txq_cq),
    .txq_prod(txq_prod),
    .txq_cons(txq_cons),
    .txq_doorbell(txq_doorbell),
    .rxq_base(rxq_base),
    .rxq_log2(rxq_log2),
    .rxq_enabled(rxq_enabled),
    .rxq_cq(rxq_cq),
    .rxq_prod(rxq_prod),
    .rxq_cons(rxq_cons),
    .cq_base(cq_base),
    .cq_log2(cq_log2),
    .cq_enabled(cq_enabled),
    .cq_prod(cq_prod),
    .cq_cons(cq_cons),
    .txq_cons_we(txq_cons_we),
    .txq_cons_q(txq_cons_q),
    .txq_cons_val(txq_cons_val),
    .rxq_cons_we(rxq_cons_we),
    .rxq_cons_q(rxq_cons_q),
    .rxq_cons_val(rxq_cons_val),
    .cq_post_valid(cq_post_valid),
    .cq_post_q(cq_post_q),
    .err_valid(err_valid),
    .err_ready(err_ready),
    .err_code(err_code),
    .err_kind({KIND_RX, KIND_TX, cpl_err_kind}),
    .err_queue(err_queue),
    .err_addr(err_addr),
    .err_stop(err_stop),
    .irq_valid(irq_valid),
    .irq_vector(irq_vector)
);

ft_stats #(
    .TX_QUEUES(TX_QUEUES),
    .RX_QUEUES(RX_QUEUES)
) u_stats (
    .clk(clk),
    .rst(rst_int),
    .tx_valid(tx_st_valid),
    .tx_q(tx_st_q),
    .tx_error(tx_st_error),
    .tx_frames(tx_st_frames),
    .tx_bytes(tx_st_bytes),
    .tx_csum_frames(tx_st_csum),
    .tx_tso_frames(tx_st_tso),
    .rx_valid(rx_st_valid),
    .rx_q(rx_st_q),
    .rx_outcome(rx_st_outcome),
    .rx_bytes(rx_st_bytes),
    .rx_csum_good(rx_st_good),
    .rx_csum_bad(rx_st_bad),
    .rd_addr(s_axil_araddr),
    .rd_data(stats_rd_data),
    .rd_hit(stats_rd_hit),
    .rx_drops_no_queue(stats_no_queue),
    .dirty_tx(stats_dirty_tx),
    .dirty_rx(stats_dirty_rx),
    .dirty_control(stats_dirty_control)
);

// ---- Completion writer and reservations
wire [CQ_COUNT-1:0] cq_room;
wire tx_resv_valid;
wire [CQ_W-1:0] tx_resv_cq;
wire tx_unresv_valid;
wire [CQ_W-1:0] tx_unresv_cq;
wire rx_resv_valid;
wire [CQ_W-1:0] rx_resv_cq;
wire rx_resv_ok;
wire rx_unresv_valid;
wire [CQ_W-1:0] rx_unresv_cq;
wire tx_cpl_valid;
wire tx_cpl_ready;
wire [CQ_W-1:0] tx_cpl_cq;
wire [`FT_CPL_BITS-1:0] tx_cpl_entry;
wire rx_cpl_valid;
wire rx_cpl_ready;
wire [CQ_W-1:0] rx_cpl_cq;
wire [`FT_CPL_BITS-1:0] rx_cpl_entry;
wire cpl_idle;

// ---- DMA clients (0: TX / RX data writes, 1: RX / completion writes)
wire [1:0] rd_req_valid;
wire [1:0] rd_req_ready;
wire [2*64-1:0] rd_req_addr;
wire [2*32-1:0] rd_req_len;
wire [2*3-1:0] rd_req_tag;
wire [1:0] rd_req_check;
wire [1:0] rd_rsp_valid;
wire [1:0] rd_rsp_ready;
wire [DATA_WIDTH-1:0] rd_rsp_data;
wire [KEEP_WIDTH-1:0] rd_rsp_keep;
wire rd_rsp_last;
wire rd_rsp_fault;
wire [63:0] rd_rsp_fault_addr;
wire [2:0] rd_rsp_tag;

wire [1:0] wr_req_valid;
wire [1:0] wr_req_ready;
wire [2*64-1:0] wr_req_addr;
wire [2*32-1:0] wr_req_len;
wire [1:0] wr_valid;
wire [1:0] wr_ready;
wire [2*DATA_WIDTH-1:0] wr_data;
wire [2*KEEP_WIDTH-1:0] wr_keep;
wire [1:0] wr_last;
wire [1:0] wr_rsp_valid;
wire [1:0] wr_rsp_ready;
wire wr_rsp_fault;
wire [63:0] wr_rsp_fault_addr;

ft_cpl #(
    .DATA_WIDTH(DATA_WIDTH),
    .CQ_COUNT(CQ_COUNT),
    .TIMESTAMP((CAPS & `FT_IDENT_CAPS_TIMESTAMP_MASK) != 0),
    .MAX_RESERVED((1 << INFLIGHT_LOG2) + 2)
) u_cpl (
    .clk(clk),
    .rst(rst_int),
    .time_ns(time_now),
    .cq_base(cq_base),
    .cq_log2(cq_log2),
    .cq_enabled(cq_enabled),
    .cq_prod(cq_prod),
    .cq_cons(cq_cons),
    .cq_room(cq_room),
    .tx_resv_valid(tx_resv_valid),
    .tx_resv_cq(tx_resv_cq),
    .tx_unresv_valid(tx_unresv_valid),
    .tx_unresv_cq(tx_unresv_cq),
    .rx_resv_valid(rx_resv_valid),
    .rx_resv_cq(rx_resv_cq),
    .rx_resv_ok(rx_resv_ok),
    .rx_unresv_valid(rx_unresv_valid),
    .rx_unresv_cq(rx_unresv_cq),
    .tx_cpl_valid(tx_cpl_valid),
    .tx_cpl_ready(tx_cpl_ready),
    .tx_cpl_cq(tx_cpl_cq),
    .tx_cpl_entry(tx_cpl_entry),
    .rx_cpl_valid(rx_cpl_valid),
    .rx_cpl_ready(rx_cpl_ready),
    .rx_cpl_cq(rx_cpl_cq),
    .rx_cpl_entry(rx_cpl_entry),
    .m_wr_req_valid(wr_req_valid[1]),
    .m_wr_req_ready(wr_req_ready[1]),
    .m_wr_req_addr(wr_req_addr[64 +: 64]),
    .m_wr_req_len(wr_req_len[32 +: 32]),
    .m_wr_data(wr_data[DATA_WIDTH +: DATA_WIDTH]),
    .m_wr_keep(wr_keep[KEEP_WIDTH +: KEEP_WIDTH]),
    .m_wr_valid(wr_valid[1]),
    .m_wr_ready(wr_ready[1]),
    .m_wr_last(wr_last[1]),
    .s_wr_rsp_valid(wr_rsp_valid[1]),
    .s_wr_rsp_ready(wr_rsp_ready[1]),
    .s_wr_rsp_fault(wr_rsp_fault),
    .s_wr_rsp_fault_addr(wr_rsp_fault_addr),
    .cq_post_valid(cq_post_valid),
    .cq_post_q(cq_post_q),
    .err_valid(err_valid[0]),
    .err_ready(err_ready[0]),
    .err_code(err_code[0 +: 8]),
    .err_kind(cpl_err_kind),
    .err_queue(err_queue[0 +: 16]),
    .err_addr(err_addr[0 +: 64]),
    .err_stop(err_stop[0]),
    .idle(cpl_idle)
);

// ---- TX
wire tx_idle;

ft_txq #(
    .DATA_WIDTH(DATA_WIDTH),
    .TX_QUEUES(TX_QUEUES),
    .CQ_COUNT(CQ_COUNT),
    .MAX_SG(MAX_SG),
    .MAX_FRAME_LEN(MAX_FRAME_LEN),
    .MAX_TSO_PAYLOAD(MAX_TSO_PAYLOAD),
    .MIN_MSS(MIN_MSS),
    .MAX_MSS(MAX_MSS),
    .CAPS(CAPS),
    .INFLIGHT_LOG2(INFLIGHT_LOG2)
) u_txq (
    .clk(clk),
    .rst(rst_int),
    .ctrl_enable(ctrl_enable),
    .sched_enable(sched_enable),
    .tso_flags_first(tso_first),
    .tso_flags_middle(tso_middle),
    .tso_flags_last(tso_last),
    .txq_base(txq_base),
    .txq_log2(txq_log2),
    .txq_enabled(txq_enabled),
    .txq_cq(txq_cq),
    .txq_prod(txq_prod),
    .txq_cons(txq_cons),
    .txq_doorbell(txq_doorbell),
    .txq_cons_we(txq_cons_we),
    .txq_cons_q(txq_cons_q),
    .txq_cons_val(txq_cons_val),
    .cq_room(cq_room),
    .resv_valid(tx_resv_valid),
    .resv_cq(tx_resv_cq),
    .unresv_valid(tx_unresv_valid),
    .unresv_cq(tx_unresv_cq),
    .m_rd_req_valid(rd_req_valid[0]),
    .m_rd_req_ready(rd_req_ready[0]),
    .m_rd_req_addr(rd_req_addr[0 +: 64]),
    .m_rd_req_len(rd_req_len[0 +: 32]),
    .m_rd_req_tag(rd_req_tag[0 +: 3]),
    .m_rd_req_check(rd_req_check[0]),
    .s_rd_rsp_valid(rd_rsp_valid[0]),
    .s_rd_rsp_ready(rd_rsp_ready[0]),
    .s_rd_rsp_data(rd_rsp_data),
    .s_rd_rsp_keep(rd_rsp_keep),
    .s_rd_rsp_last(rd_rsp_last),
    .s_rd_rsp_fault(rd_rsp_fault),
    .s_rd_rsp_fault_addr(rd_rsp_fault_addr),
    .s_rd_rsp_tag(rd_rsp_tag),
    .m_axis_tdata(m_axis_tx_tdata),
    .m_axis_tkeep(m_axis_tx_tkeep),
    .m_axis_tvalid(m_axis_tx_tvalid),
    .m_axis_tready(m_axis_tx_tready),
    .m_axis_tlast(m_axis_tx_tlast),
    .cpl_valid(tx_cpl_valid),
    .cpl_ready(tx_cpl_ready),
    .cpl_cq(tx_cpl_cq),
    .cpl_entry(tx_cpl_entry),
    .err_valid(err_valid[1]),
    .err_ready(err_ready[1]),
    .err_code(err_code[8 +: 8]),
    .err_queue(err_queue[16 +: 16]),
    .err_addr(err_addr[64 +: 64]),
    .err_stop(err_stop[1]),
    .st_valid(tx_st_valid),
    .st_q(tx_st_q),
    .st_error(tx_st_error),
    .st_frames(tx_st_frames),
    .st_bytes(tx_st_bytes),
    .st_csum_frames(tx_st_csum),
    .st_tso_frames(tx_st_tso),
    .req_start(tx_req_start),
    .req_done(tx_req_done),
    .idle(tx_idle),
    .work(tx_work)
);

// ---- RX
wire rx_idle;

ft_rxq #(
    .DATA_WIDTH(DATA_WIDTH),
    .RX_QUEUES(RX_QUEUES),
    .CQ_COUNT(CQ_COUNT),
    .MAX_FRAME_LEN(MAX_FRAME_LEN)
) u_rxq (
    .clk(clk),
    .rst(rst_int),
    .ctrl_enable(ctrl_enable),
    .ctrl_rx_csum(ctrl_rx_csum),
    .ctrl_rss(ctrl_rss),
    .rss_key(rss_key),
    .rss_table(rss_table),
    .rxq_base(rxq_base),
    .rxq_log2(rxq_log2),
    .rxq_enabled(rxq_enabled),
    .rxq_cq(rxq_cq),
    .rxq_prod(rxq_prod),
    .rxq_cons(rxq_cons),
    .rxq_cons_we(rxq_cons_we),
    .rxq_cons_q(rxq_cons_q),
    .rxq_cons_val(rxq_cons_val),
    .resv_valid(rx_resv_valid),
    .resv_cq(rx_resv_cq),
    .resv_ok(rx_resv_ok),
    .unresv_valid(rx_unresv_valid),
    .unresv_cq(rx_unresv_cq),
    .m_rd_req_valid(rd_req_valid[1]),
    .m_rd_req_ready(rd_req_ready[1]),
    .m_rd_req_addr(rd_req_addr[64 +: 64]),
    .m_rd_req_len(rd_req_len[32 +: 32]),
    .m_rd_req_tag(rd_req_tag[3 +: 3]),
    .m_rd_req_check(rd_req_check[1]),
    .s_rd_rsp_valid(rd_rsp_valid[1]),
    .s_rd_rsp_ready(rd_rsp_ready[1]),
    .s_rd_rsp_data(rd_rsp_data[RD_W-1:0]),
    .s_rd_rsp_last(rd_rsp_last),
    .s_rd_rsp_fault(rd_rsp_fault),
    .s_rd_rsp_fault_addr(rd_rsp_fault_addr),
    .m_wr_req_valid(wr_req_valid[0]),
    .m_wr_req_ready(wr_req_ready[0]),
    .m_wr_req_addr(wr_req_addr[0 +: 64]),
    .m_wr_req_len(wr_req_len[0 +: 32]),
    .m_wr_data(wr_data[0 +: DATA_WIDTH]),
    .m_wr_keep(wr_keep[0 +: KEEP_WIDTH]),
    .m_wr_valid(wr_valid[0]),
    .m_wr_ready(wr_ready[0]),
    .m_wr_last(wr_last[0]),
    .s_wr_rsp_valid(wr_rsp_valid[0]),
    .s_wr_rsp_ready(wr_rsp_ready[0]),
    .s_wr_rsp_fault(wr_rsp_fault),
    .s_wr_rsp_fault_addr(wr_rsp_fault_addr),
    .s_axis_tdata(s_axis_rx_tdata),
    .s_axis_tkeep(s_axis_rx_tkeep),
    .s_axis_tvalid(s_axis_rx_tvalid),
    .s_axis_tready(s_axis_rx_tready),
    .s_axis_tlast(s_axis_rx_tlast),
    .s_axis_tuser(s_axis_rx_tuser),
    .cpl_valid(rx_cpl_valid),
    .cpl_ready(rx_cpl_ready),
    .cpl_cq(rx_cpl_cq),
    .cpl_entry(rx_cpl_entry),
    .err_valid(err_valid[2]),
    .err_ready(err_ready[2]),
    .err_code(err_code[16 +: 8]),
    .err_queue(err_queue[32 +: 16]),
    .err_addr(err_addr[128 +: 64]),
    .err_stop(err_stop[2]),
    .st_valid(rx_st_valid),
    .st_q(rx_st_q),
    .st_outcome(rx_st_outcome),
    .st_bytes(rx_st_bytes),
    .st_csum_good(rx_st_good),
    .st_csum_bad(rx_st_bad),
    .idle(rx_idle)
);

// ---- DMA arbitration
ft_dma_rd_mux #(
    .DATA_WIDTH(DATA_WIDTH),
    .TAG_WIDTH(3)
) u_rd_mux (
    .clk(clk),
    .rst(rst_int),
    .s_req_valid(rd_req_valid),
    .s_req_ready(rd_req_ready),
    .s_req_addr(rd_req_addr),
    .s_req_len(rd_req_len),
    .s_req_tag(rd_req_tag),
    .s_req_check(rd_req_check),
    .m_rsp_valid(rd_rsp_valid),
    .m_rsp_ready(rd_rsp_ready),
    .m_rsp_data(rd_rsp_data),
    .m_rsp_keep(rd_rsp_keep),
    .m_rsp_last(rd_rsp_last),
    .m_rsp_fault(rd_rsp_fault),
    .m_rsp_fault_addr(rd_rsp_fault_addr),
    .m_rsp_tag(rd_rsp_tag),
    .m_dma_rd_req_valid(m_dma_rd_req_valid),
    .m_dma_rd_req_ready(m_dma_rd_req_ready),
    .m_dma_rd_req_addr(m_dma_rd_req_addr),
    .m_dma_rd_req_len(m_dma_rd_req_len),
    .m_dma_rd_req_tag(m_dma_rd_req_tag),
    .m_dma_rd_req_check(m_dma_rd_req_check),
    .s_dma_rd_rsp_valid(s_dma_rd_rsp_valid),
    .s_dma_rd_rsp_ready(s_dma_rd_rsp_ready),
    .s_dma_rd_rsp_data(s_dma_rd_rsp_data),
    .s_dma_rd_rsp_keep(s_dma_rd_rsp_keep),
    .s_dma_rd_rsp_last(s_dma_rd_rsp_last),
    .s_dma_rd_rsp_fault(s_dma_rd_rsp_fault),
    .s_dma_rd_rsp_fault_addr(s_dma_rd_rsp_fault_addr),
    .s_dma_rd_rsp_tag(s_dma_rd_rsp_tag)
);

ft_dma_wr_mux #(
    .DATA_WIDTH(DATA_WIDTH)
) u_wr_mux (
    .clk(clk),
    .rst(rst_int),
    .s_req_valid(wr_req_valid),
    .s_req_ready(wr_req_ready),
    .s_req_addr(wr_req_addr),
    .s_req_len(wr_req_len),
    .s_valid(wr_valid),
    .s_ready(wr_ready),
    .s_data(wr_data),
    .s_keep(wr_keep),
    .s_last(wr_last),
    .m_rsp_valid(wr_rsp_valid),
    .m_rsp_ready(wr_rsp_ready),
    .m_rsp_fault(wr_rsp_fault),
    .m_rsp_fault_addr(wr_rsp_fault_addr),
    .m_dma_wr_req_valid(m_dma_wr_req_valid),
    .m_dma_wr_req_ready(m_dma_wr_req_ready),
    .m_dma_wr_req_addr(m_dma_wr_req_addr),
    .m_dma_wr_req_len(m_dma_wr_req_len),
    .m_dma_wr_req_tag(m_dma_wr_req_tag),
    .m_dma_wr_valid(m_dma_wr_valid),
    .m_dma_wr_ready(m_dma_wr_ready),
    .m_dma_wr_data(m_dma_wr_data),
    .m_dma_wr_keep(m_dma_wr_keep),
    .m_dma_wr_last(m_dma_wr_last),
    .s_dma_wr_rsp_valid(s_dma_wr_rsp_valid),
    .s_dma_wr_rsp_ready(s_dma_wr_rsp_ready),
    .s_dma_wr_rsp_fault(s_dma_wr_rsp_fault),
    .s_dma_wr_rsp_fault_addr(s_dma_wr_rsp_fault_addr),
    .s_dma_wr_rsp_tag(s_dma_wr_rsp_tag)
);

assign idle = tx_idle && rx_idle && cpl_idle;
assign soft_reset = soft_rst;

endmodule

`resetall
