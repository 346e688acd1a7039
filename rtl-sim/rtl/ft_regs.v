// ft_regs: the device's register file and architectural queue state (hw-spec SPEC.md 2-5, 8).
//
// Owns: every register of BAR0 except the statistics counters (ft_stats): IDENT (from the
// parameters), CONTROL (enable, soft reset, error status with LAST_ERROR / LAST_ERROR_ADDR,
// error count, TSO flag masks, device time, scratch), the TX, RX and completion queue register
// sets (base, size, binding, enabled, stopped-on-fault, armed, producer and consumer pointers)
// with the command words and all their rules (first failure wins, in the contract's order),
// the interrupt vectors (event counters, masks) and the RSS key and indirection table.
//
// Register port: AXI-Lite style, 32-bit words. A write presents address and data together
// (s_axil_wvalid with awaddr and wdata; full-word writes only, there are no byte strobes) and is
// acknowledged on the B channel; a read on AR/R returns its word one cycle after acceptance.
// Bad accesses (read-only, undefined, nonexistent queue or vector, unaligned, beyond BAR0) are
// never bus errors: they are recorded as BAD_REGISTER_ACCESS (SPEC 8), and an unaligned read
// returns 0. Addresses are 32 bits so that a bad offset beyond BAR0 can be recorded as given.
//
// The engines never write registers: they send updates through dedicated ports, each used by
// one engine (TX consumer pointers: ft_txq; RX consumer pointers: ft_rxq; completion posts:
// ft_cpl) and an error port with one request per source (ft_cpl, ft_txq, ft_rxq; lowest index
// first) that may also stop the queue concerned (a DMA fault on a ring). A register write waits
// while any engine update is presented, so a write and an engine update never meet in a cycle;
// a read waits for a presented write. A completion post increments the CQ's producer and, when
// the CQ is armed, disarms it and raises its vector: EVENTS counts (wrapping), and unless the
// vector is masked irq_valid pulses for one cycle with irq_vector.
//
// CTRL.RESET raises soft_reset for one cycle: this module and every engine return to their
// reset state (the DMA and MAC sides drop partial transactions on it); host memory is untouched.
//
// Register change tracking (for a simulator that mirrors BAR0 into a file the driver reads
// without asking the device): reg_dirty has one sticky bit per register group, set whenever
// the device changes a register of the group by itself, cleared by reg_dirty_ack (bits set in
// the same cycle survive). Groups: bit 0 everything (soft reset), 1 CONTROL (CTRL, STATUS,
// ERROR_STATUS, ERROR_COUNT, LAST_ERROR, LAST_ERROR_ADDR_*, TSO_FLAGS_*, SCRATCH,
// RX_DROPS_NO_QUEUE), 2 TIMESTAMP_*, then one per TX queue, RX queue and completion queue
// (BASE_*, STATUS, PROD, CONS), one per TX and per RX queue statistics set, one per vector
// (EVENTS, MASK). A register written over the port is not flagged for itself (the writer knows
// it wrote), only for its side effects. Nothing here depends on the tracking: hardware leaves
// reg_dirty_ack at zero.
//
// Must not: move data, build completions, or count traffic (the engines' and ft_stats').
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_regs #(
    // Queue and vector counts of this build (IDENT.QUEUE_COUNTS).
    parameter TX_QUEUES = 4,
    parameter RX_QUEUES = 4,
    parameter CQ_COUNT = 8,
    parameter IRQ_COUNT = 8,
    // Ring size limits, log2 of entries (IDENT.RING_LIMITS), and MAX_SG.
    parameter RING_MIN_LOG2 = 3,
    parameter RING_MAX_LOG2 = 15,
    parameter MAX_SG = 16,
    // IDENT.CAPS word and limits.
    parameter CAPS = 32'h000000FF,
    parameter MAX_TSO_PAYLOAD = 65535,
    parameter MAX_FRAME_LEN = 9216,
    parameter MIN_MSS = 64,
    parameter MAX_MSS = 9162,
    // IDENT.DATAPATH and IDENT.DEVICE_ID / BUILD_ID.
    parameter DATAPATH_BITS = 512,
    parameter CLOCK_MHZ = 250,
    parameter IMPLEMENTATION = 2,
    parameter REVISION = 1,
    parameter BUILD_ID = 0,
    // Derived, do not override.
    parameter TXQ_W = TX_QUEUES > 1 ? $clog2(TX_QUEUES) : 1,
    parameter RXQ_W = RX_QUEUES > 1 ? $clog2(RX_QUEUES) : 1,
    parameter CQ_W = CQ_COUNT > 1 ? $clog2(CQ_COUNT) : 1,
    parameter IRQ_W = IRQ_COUNT > 1 ? $clog2(IRQ_COUNT) : 1,
    parameter DIRTY_WIDTH = 3 + 2 * TX_QUEUES + 2 * RX_QUEUES + CQ_COUNT + IRQ_COUNT
) (
    input  wire                                    clk,
    input  wire                                    rst,
    output wire                                    soft_reset,

    // Device time in ns (CONTROL.TIMESTAMP samples it every cycle).
    input  wire [63:0]                             time_ns,

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

    // Statistics (ft_stats): read data of the address on s_axil_araddr, the global counter,
    // and which counter sets changed.
    input  wire [31:0]                             stats_rd_data,
    input  wire                                    stats_rd_hit,
    input  wire [31:0]                             stats_rx_drops_no_queue,
    input  wire [TX_QUEUES-1:0]                    stats_dirty_tx,
    input  wire [RX_QUEUES-1:0]                    stats_dirty_rx,
    input  wire                                    stats_dirty_control,

    // Register change tracking
    output wire [DIRTY_WIDTH-1:0]                  reg_dirty,
    input  wire [DIRTY_WIDTH-1:0]                  reg_dirty_ack,

    // Configuration for the engines
    output wire                                    ctrl_enable,
    output wire                                    ctrl_rx_csum,
    output wire                                    ctrl_rss,
    output wire [`FT_CONTROL_TSO_FLAGS_FIRST_FLAGS_WIDTH-1:0]  tso_flags_first,
    output wire [`FT_CONTROL_TSO_FLAGS_MIDDLE_FLAGS_WIDTH-1:0] tso_flags_middle,
    output wire [`FT_CONTROL_TSO_FLAGS_LAST_FLAGS_WIDTH-1:0]   tso_flags_last,
    output wire [`FT_RSS_KEY_WORDS*32-1:0]         rss_key,
    output wire [`FT_RSS_TABLE_ENTRIES*8-1:0]      rss_table,
    output wire [63:0]                             time_now,

    // Queue state (flat vectors, queue i in slice i)
    output wire [TX_QUEUES*64-1:0]                 txq_base,
    output wire [TX_QUEUES*5-1:0]                  txq_log2,
    output wire [TX_QUEUES-1:0]                    txq_enabled,
    output wire [TX_QUEUES*CQ_W-1:0]               txq_cq,
    output wire [TX_QUEUES*16-1:0]                 txq_prod,
    output wire [TX_QUEUES*16-1:0]                 txq_cons,
    output wire [TX_QUEUES-1:0]                    txq_doorbell,
    output wire [RX_QUEUES*64-1:0]                 rxq_base,
    output wire [RX_QUEUES*5-1:0]                  rxq_log2,
    output wire [RX_QUEUES-1:0]                    rxq_enabled,
    output wire [RX_QUEUES*CQ_W-1:0]               rxq_cq,
    output wire [RX_QUEUES*16-1:0]                 rxq_prod,
    output wire [RX_QUEUES*16-1:0]                 rxq_cons,
    output wire [CQ_COUNT*64-1:0]                  cq_base,
    output wire [CQ_COUNT*5-1:0]                   cq_log2,
    output wire [CQ_COUNT-1:0]                     cq_enabled,
    output wire [CQ_COUNT*16-1:0]                  cq_prod,
    output wire [CQ_COUNT*16-1:0]                  cq_cons,

    // Engine updates
    input  wire                                    txq_cons_we,
    input  wire [TXQ_W-1:0]                        txq_cons_q,
    input  wire [15:0]                             txq_cons_val,
    input  wire                                    rxq_cons_we,
    input  wire [RXQ_W-1:0]                        rxq_cons_q,
    input  wire [15:0]                             rxq_cons_val,
    input  wire                                    cq_post_valid,
    input  wire [CQ_W-1:0]                         cq_post_q,

    // Error reports: source 0 ft_cpl, 1 ft_txq, 2 ft_rxq
    input  wire [2:0]                              err_valid,
    output wire [2:0]                              err_ready,
    input  wire [3*`FT_ERROR_CODE_WIDTH-1:0]       err_code,
    input  wire [3*`FT_QUEUE_KIND_WIDTH-1:0]       err_kind,
    input  wire [3*16-1:0]                         err_queue,
    input  wire [3*64-1:0]                         err_addr,
    input  wire [2:0]                              err_stop,

    // Interrupts
    output wire                                    irq_valid,
    output wire [7:0]                              irq_vector
);

// ---------------------------------------------------------------- parameters and constants

localparam NQ = TX_QUEUES + RX_QUEUES + CQ_COUNT;
localparam QG_W = $clog2(NQ);
localparam RXQ0 = TX_QUEUES;
localparam CQ0 = TX_QUEUES + RX_QUEUES;

localparam G_ALL = 0;
localparam G_CONTROL = 1;
localparam G_TIME = 2;
localparam G_Q = 3;
localparam G_TXS = G_Q + NQ;
localparam G_RXS = G_TXS + TX_QUEUES;
localparam G_IRQ = G_RXS + RX_QUEUES;

localparam [31:0] BAR0_SIZE = `FT_BAR0_SIZE;
localparam ALIGN_BITS = $clog2(`FT_RING_ALIGN);
localparam [31:0] QSTRIDE = `FT_TXQ_STRIDE;
localparam QS_BITS = $clog2(`FT_TXQ_STRIDE);
localparam [31:0] TXQ_ARR = `FT_TXQ_BASE + `FT_TXQ_ARRAY_OFFSET;
localparam [31:0] RXQ_ARR = `FT_RXQ_BASE + `FT_RXQ_ARRAY_OFFSET;
localparam [31:0] CQ_ARR = `FT_CQ_BASE + `FT_CQ_ARRAY_OFFSET;
localparam [31:0] TXQ_END = TXQ_ARR + TX_QUEUES * QSTRIDE;
localparam [31:0] RXQ_END = RXQ_ARR + RX_QUEUES * QSTRIDE;
localparam [31:0] CQ_END = CQ_ARR + CQ_COUNT * QSTRIDE;
localparam [31:0] VEC_ARR = `FT_IRQ_BASE + `FT_VECTOR_ARRAY_OFFSET;
localparam VS_BITS = $clog2(`FT_VECTOR_STRIDE);
localparam [31:0] VEC_END = VEC_ARR + IRQ_COUNT * `FT_VECTOR_STRIDE;
localparam [31:0] KEY_ARR = `FT_RSS_BASE + `FT_RSS_KEY_ARRAY_OFFSET;
localparam [31:0] KEY_END = KEY_ARR + `FT_RSS_KEY_WORDS * `FT_RSS_KEY_STRIDE;
localparam [31:0] TAB_ARR = `FT_RSS_BASE + `FT_RSS_TABLE_ARRAY_OFFSET;
localparam [31:0] TAB_END = TAB_ARR + `FT_RSS_TABLE_ENTRIES * `FT_RSS_TABLE_STRIDE;
localparam [31:0] STATS_LO = `FT_STATS_BASE;
localparam [31:0] STATS_HI = `FT_STATS_BASE + `FT_STATS_SIZE;

localparam [31:0] Q_BASE_LO_32 = `FT_TXQ_BASE_LO_OFFSET;
localparam [31:0] Q_BASE_HI_32 = `FT_TXQ_BASE_HI_OFFSET;
localparam [31:0] Q_CMD_32 = `FT_TXQ_CMD_OFFSET;
localparam [31:0] Q_STATUS_32 = `FT_TXQ_STATUS_OFFSET;
localparam [31:0] Q_PROD_32 = `FT_TXQ_PROD_OFFSET;
localparam [31:0] Q_CONS_32 = `FT_TXQ_CONS_OFFSET;
localparam [31:0] V_EVENTS_32 = `FT_VECTOR_EVENTS_OFFSET;
localparam [31:0] V_MASK_32 = `FT_VECTOR_MASK_OFFSET;
localparam [QS_BITS-1:0] Q_BASE_LO = Q_BASE_LO_32[QS_BITS-1:0];
localparam [QS_BITS-1:0] Q_BASE_HI = Q_BASE_HI_32[QS_BITS-1:0];
localparam [QS_BITS-1:0] Q_CMD = Q_CMD_32[QS_BITS-1:0];
localparam [QS_BITS-1:0] Q_STATUS = Q_STATUS_32[QS_BITS-1:0];
localparam [QS_BITS-1:0] Q_PROD = Q_PROD_32[QS_BITS-1:0];
localparam [QS_BITS-1:0] Q_CONS = Q_CONS_32[QS_BITS-1:0];
localparam [VS_BITS-1:0] V_EVENTS = V_EVENTS_32[VS_BITS-1:0];
localparam [VS_BITS-1:0] V_MASK = V_MASK_32[VS_BITS-1:0];
// Element offsets: the low bits of an address relative to an array start (exact, given the
// range checks), split into element index and register offset.
localparam QR_W = QS_BITS + QG_W;
localparam VR_W = VS_BITS + IRQ_W;
localparam [QR_W-1:0] TXQ_ARR_R = TXQ_ARR[QR_W-1:0];
localparam [QR_W-1:0] RXQ_ARR_R = RXQ_ARR[QR_W-1:0];
localparam [QR_W-1:0] CQ_ARR_R = CQ_ARR[QR_W-1:0];
localparam [VR_W-1:0] VEC_ARR_R = VEC_ARR[VR_W-1:0];
localparam [QG_W-1:0] RXQ0_G = RXQ0[QG_W-1:0];
localparam [QG_W-1:0] CQ0_G = CQ0[QG_W-1:0];
localparam [3:0] KEY_ARR_W = KEY_ARR[5:2];
localparam [6:0] TAB_ARR_W = TAB_ARR[8:2];

localparam [1:0] KIND_TX = `FT_QUEUE_KIND_TX;
localparam [1:0] KIND_RX = `FT_QUEUE_KIND_RX;
localparam [1:0] KIND_CQ = `FT_QUEUE_KIND_CQ;
localparam [1:0] KIND_NONE = `FT_QUEUE_KIND_NONE;

localparam [7:0] E_NONE = `FT_ERROR_CODE_NONE;
localparam [7:0] E_DMA_FAULT = `FT_ERROR_CODE_DMA_FAULT;
localparam [7:0] E_OPCODE = `FT_ERROR_CODE_BAD_COMMAND_OPCODE;
localparam [7:0] E_ARGUMENT = `FT_ERROR_CODE_BAD_COMMAND_ARGUMENT;
localparam [7:0] E_STATE = `FT_ERROR_CODE_BAD_COMMAND_STATE;
localparam [7:0] E_REGISTER = `FT_ERROR_CODE_BAD_REGISTER_ACCESS;
localparam [7:0] E_OVERRUN = `FT_ERROR_CODE_RING_OVERRUN;

localparam [7:0] OP_SET_LOG2_SIZE = `FT_OPCODE_SET_LOG2_SIZE;
localparam [7:0] OP_SET_CQ = `FT_OPCODE_SET_CQ;
localparam [7:0] OP_SET_PROD = `FT_OPCODE_SET_PROD;
localparam [7:0] OP_SET_CONS = `FT_OPCODE_SET_CONS;
localparam [7:0] OP_SET_CONS_ARM = `FT_OPCODE_SET_CONS_ARM;
localparam [7:0] OP_ARM = `FT_OPCODE_ARM;
localparam [7:0] OP_SET_IRQ = `FT_OPCODE_SET_IRQ;
localparam [7:0] OP_ENABLE = `FT_OPCODE_ENABLE;
localparam [7:0] OP_DISABLE = `FT_OPCODE_DISABLE;
localparam [7:0] OP_RESET_POINTERS = `FT_OPCODE_RESET_POINTERS;

localparam [31:0] TSO_FIRST_RESET = `FT_CONTROL_TSO_FLAGS_FIRST_RESET;
localparam [31:0] TSO_MIDDLE_RESET = `FT_CONTROL_TSO_FLAGS_MIDDLE_RESET;
localparam [31:0] TSO_LAST_RESET = `FT_CONTROL_TSO_FLAGS_LAST_RESET;
localparam FLAGS_W = `FT_CONTROL_TSO_FLAGS_FIRST_FLAGS_WIDTH;

localparam [31:0] MIN_LOG2_32 = RING_MIN_LOG2;
localparam [31:0] MAX_LOG2_32 = RING_MAX_LOG2;
localparam [31:0] CQ_COUNT_32 = CQ_COUNT;
localparam [31:0] IRQ_COUNT_32 = IRQ_COUNT;

localparam [31:0] CTRL_WRITABLE = `FT_CONTROL_CTRL_ENABLE_MASK
    | (((CAPS & `FT_IDENT_CAPS_RX_CSUM_MASK) != 0) ? `FT_CONTROL_CTRL_RX_CSUM_ENABLE_MASK : 32'd0)
    | (((CAPS & `FT_IDENT_CAPS_RSS_MASK) != 0) ? `FT_CONTROL_CTRL_RSS_ENABLE_MASK : 32'd0);

// IDENT words
localparam [31:0] IMPL_32 = {24'd0, IMPLEMENTATION[7:0]};
localparam [31:0] ID_DEVICE_ID = (IMPL_32 << `FT_IDENT_DEVICE_ID_IMPLEMENTATION_LSB)
                               | (REVISION << `FT_IDENT_DEVICE_ID_REVISION_LSB);
localparam [31:0] ID_MSS = (MAX_MSS << `FT_IDENT_MSS_LIMITS_MAX_MSS_LSB)
                         | (MIN_MSS << `FT_IDENT_MSS_LIMITS_MIN_MSS_LSB);
localparam [31:0] ID_COUNTS = (TX_QUEUES << `FT_IDENT_QUEUE_COUNTS_TX_LSB)
                            | (RX_QUEUES << `FT_IDENT_QUEUE_COUNTS_RX_LSB)
                            | (CQ_COUNT << `FT_IDENT_QUEUE_COUNTS_CQ_LSB)
                            | (IRQ_COUNT << `FT_IDENT_QUEUE_COUNTS_IRQ_LSB);
localparam [31:0] ID_RING = (RING_MIN_LOG2 << `FT_IDENT_RING_LIMITS_MIN_LOG2_LSB)
                          | (RING_MAX_LOG2 << `FT_IDENT_RING_LIMITS_MAX_LOG2_LSB)
                          | (MAX_SG << `FT_IDENT_RING_LIMITS_MAX_SG_LSB);
localparam [31:0] ID_DATAPATH = (DATAPATH_BITS << `FT_IDENT_DATAPATH_WIDTH_BITS_LSB)
                              | (CLOCK_MHZ << `FT_IDENT_DATAPATH_CLOCK_MHZ_LSB);
localparam [31:0] ID_CAPS = CAPS;
localparam [31:0] ID_BUILD = BUILD_ID;
localparam [31:0] ID_MAX_TSO = MAX_TSO_PAYLOAD;
localparam [31:0] ID_MAX_FRAME = MAX_FRAME_LEN;

initial begin
    if (TX_QUEUES < 1 || TX_QUEUES > 64 || RX_QUEUES < 1 || RX_QUEUES > 64
        || CQ_COUNT < 1 || CQ_COUNT > 64 || IRQ_COUNT < 1 || IRQ_COUNT > 64) begin
        $display("Error: queue and vector counts must be 1..64 (instance %m)");
        $finish;
    end
    if (DIRTY_WIDTH > 256) begin
        $display("Error: more than 256 register groups (instance %m)");
        $finish;
    end
    if (RING_MIN_LOG2 < 1 || RING_MIN_LOG2 > RING_MAX_LOG2 || RING_MAX_LOG2 > 15) begin
        $display("Error: need 1 <= RING_MIN_LOG2 <= RING_MAX_LOG2 <= 15 (instance %m)");
        $finish;
    end
    if (`FT_RXQ_STRIDE != `FT_TXQ_STRIDE || `FT_CQ_STRIDE != `FT_TXQ_STRIDE) begin
        $display("Error: the queue blocks must share one stride (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------- state

reg soft_reset_reg = 1'b0;
reg [31:0] ctrl_reg = 32'd0;
reg [31:0] error_status_reg = 32'd0;
reg [31:0] error_count_reg = 32'd0;
reg [31:0] last_error_reg = 32'd0;
reg [63:0] last_error_addr_reg = 64'd0;
reg [FLAGS_W-1:0] tso_first_reg = TSO_FIRST_RESET[FLAGS_W-1:0];
reg [FLAGS_W-1:0] tso_middle_reg = TSO_MIDDLE_RESET[FLAGS_W-1:0];
reg [FLAGS_W-1:0] tso_last_reg = TSO_LAST_RESET[FLAGS_W-1:0];
reg [63:0] time_reg = 64'd0;
reg [31:0] scratch_reg = 32'd0;
// RSS key word i in bits [32i +: 32]; table entry i in bits [8i +: 8].
reg [`FT_RSS_KEY_WORDS*32-1:0] rss_key_reg = {`FT_RSS_KEY_WORDS*32{1'b0}};
reg [`FT_RSS_TABLE_ENTRIES*8-1:0] rss_table_reg = {`FT_RSS_TABLE_ENTRIES*8{1'b0}};

// Queues, indexed globally (TX 0.., RX RXQ0.., CQ CQ0..), queue g in slice g of each vector.
reg [NQ*64-1:0] q_base_reg = {NQ*64{1'b0}};
reg [NQ*5-1:0] q_log2_reg = {NQ*5{1'b0}};
reg [NQ-1:0] q_enabled_reg = {NQ{1'b0}};
reg [NQ-1:0] q_stopped_reg = {NQ{1'b0}};
reg [NQ-1:0] q_armed_reg = {NQ{1'b0}};
reg [NQ*8-1:0] q_binding_reg = {NQ*8{1'b0}};
reg [NQ*16-1:0] q_prod_reg = {NQ*16{1'b0}};
reg [NQ*16-1:0] q_cons_reg = {NQ*16{1'b0}};

reg [IRQ_COUNT*32-1:0] irq_events_reg = {IRQ_COUNT*32{1'b0}};
reg [IRQ_COUNT-1:0] irq_masked_reg = {IRQ_COUNT{1'b0}};
reg irq_valid_reg = 1'b0;
reg [7:0] irq_vector_reg = 8'd0;

reg [TX_QUEUES-1:0] doorbell_reg = {TX_QUEUES{1'b0}};
reg [DIRTY_WIDTH-1:0] dirty_reg = {DIRTY_WIDTH{1'b0}};

reg bvalid_reg = 1'b0;
reg rvalid_reg = 1'b0;
reg [31:0] rdata_reg = 32'd0;

// ---------------------------------------------------------------- write decode

wire eng_update = txq_cons_we || rxq_cons_we || cq_post_valid || (err_valid != 3'd0);
wire wr_fire = s_axil_wvalid && !bvalid_reg && !eng_update && !soft_reset_reg;
wire [31:0] wa = s_axil_awaddr;
wire [31:0] wd = s_axil_wdata;
wire wa_ok = wa[1:0] == 2'b00 && wa < BAR0_SIZE;

// Queue element of an address: global index, kind, register offset, hit.
reg w_q_hit;
reg [QG_W-1:0] w_g;
reg [1:0] w_kind;
reg [QS_BITS-1:0] w_qreg;
wire [QR_W-1:0] w_rel_tx = wa[QR_W-1:0] - TXQ_ARR_R;
wire [QR_W-1:0] w_rel_rx = wa[QR_W-1:0] - RXQ_ARR_R;
wire [QR_W-1:0] w_rel_cq = wa[QR_W-1:0] - CQ_ARR_R;
always @* begin
    w_q_hit = 1'b0;
    w_g = {QG_W{1'b0}};
    w_kind = KIND_NONE;
    w_qreg = w_rel_tx[QS_BITS-1:0];
    if (wa >= TXQ_ARR && wa < TXQ_END) begin
        w_q_hit = 1'b1;
        w_kind = KIND_TX;
        w_g = w_rel_tx[QS_BITS +: QG_W];
    end else if (wa >= RXQ_ARR && wa < RXQ_END) begin
        w_q_hit = 1'b1;
        w_kind = KIND_RX;
        w_g = w_rel_rx[QS_BITS +: QG_W] + RXQ0_G;
        w_qreg = w_rel_rx[QS_BITS-1:0];
    end else if (wa >= CQ_ARR && wa < CQ_END) begin
        w_q_hit = 1'b1;
        w_kind = KIND_CQ;
        w_g = w_rel_cq[QS_BITS +: QG_W] + CQ0_G;
        w_qreg = w_rel_cq[QS_BITS-1:0];
    end
end

wire w_ctrl = wa == `FT_CONTROL_CTRL;
wire w_errst = wa == `FT_CONTROL_ERROR_STATUS;
wire w_tso_first = wa == `FT_CONTROL_TSO_FLAGS_FIRST;
wire w_tso_middle = wa == `FT_CONTROL_TSO_FLAGS_MIDDLE;
wire w_tso_last = wa == `FT_CONTROL_TSO_FLAGS_LAST;
wire w_scratch = wa == `FT_CONTROL_SCRATCH;
wire w_base = w_q_hit && (w_qreg == Q_BASE_LO || w_qreg == Q_BASE_HI);
wire w_cmd = w_q_hit && w_qreg == Q_CMD;
wire w_vec_hit = wa >= VEC_ARR && wa < VEC_END;
wire [VR_W-1:0] w_vec_rel = wa[VR_W-1:0] - VEC_ARR_R;
wire [IRQ_W-1:0] w_vec = w_vec_rel[VS_BITS +: IRQ_W];
wire w_mask = w_vec_hit && w_vec_rel[VS_BITS-1:0] == V_MASK;
wire w_key = wa >= KEY_ARR && wa < KEY_END;
wire [3:0] w_key_i = wa[5:2] - KEY_ARR_W;
wire w_tab = wa >= TAB_ARR && wa < TAB_END;
wire [6:0] w_tab_i = wa[8:2] - TAB_ARR_W;
wire w_known = wa_ok && (w_ctrl || w_errst || w_tso_first || w_tso_middle || w_tso_last
                         || w_scratch || w_base || w_cmd || w_mask || w_key || w_tab);

wire w_enabled = q_enabled_reg[w_g];
// A BASE write to an enabled queue is a bad register access naming that queue.
wire wr_base_bad = wr_fire && w_known && w_base && w_enabled;
wire wr_bad = wr_fire && !w_known;

// ---------------------------------------------------------------- commands

wire [7:0] c_op = wd[`FT_TXQ_CMD_OPCODE_RANGE];
wire [23:0] c_arg = wd[`FT_TXQ_CMD_ARG_RANGE];
wire [15:0] c_arg16 = c_arg[15:0];
wire [4:0] c_log2 = q_log2_reg[w_g*5 +: 5];
wire [15:0] c_prod = q_prod_reg[w_g*16 +: 16];
wire [15:0] c_cons = q_cons_reg[w_g*16 +: 16];
wire [16:0] c_size = (c_log2 == 5'd0) ? 17'd0 : (17'd1 << c_log2);
wire [15:0] c_used = c_prod - c_cons;
wire [7:0] c_binding = q_binding_reg[w_g*8 +: 8];
wire c_cq_enabled = q_enabled_reg[cq_g(c_binding[CQ_W-1:0])];
wire [ALIGN_BITS-1:0] c_base_low = q_base_reg[w_g*64 +: ALIGN_BITS];

// Global index of completion queue c (c < CQ_COUNT: the binding rules guarantee it).
function [QG_W-1:0] cq_g(input [CQ_W-1:0] c);
    begin
        cq_g = {{(QG_W-CQ_W){1'b0}}, c} + CQ0_G;
    end
endfunction

reg [7:0] c_err;
always @* begin
    c_err = E_NONE;
    case (c_op)
        OP_SET_LOG2_SIZE, OP_ENABLE, OP_DISABLE, OP_RESET_POINTERS: c_err = E_NONE;
        OP_SET_CQ, OP_SET_PROD: c_err = (w_kind == KIND_CQ) ? E_OPCODE : E_NONE;
        OP_SET_CONS, OP_SET_CONS_ARM, OP_ARM, OP_SET_IRQ:
            c_err = (w_kind == KIND_CQ) ? E_NONE : E_OPCODE;
        default: c_err = E_OPCODE;
    endcase
    if (c_err == E_NONE) begin
        case (c_op)
            OP_SET_LOG2_SIZE: if (c_arg[23:5] != 19'd0) c_err = E_ARGUMENT;
            OP_SET_CQ, OP_SET_IRQ: if (c_arg[23:8] != 16'd0) c_err = E_ARGUMENT;
            OP_SET_PROD, OP_SET_CONS, OP_SET_CONS_ARM: if (c_arg[23:16] != 8'd0) c_err = E_ARGUMENT;
            default: if (c_arg != 24'd0) c_err = E_ARGUMENT;
        endcase
    end
    if (c_err == E_NONE) begin
        case (c_op)
            OP_SET_LOG2_SIZE: begin
                if ({27'd0, c_arg[4:0]} < MIN_LOG2_32 || {27'd0, c_arg[4:0]} > MAX_LOG2_32) begin
                    c_err = E_ARGUMENT;
                end else if (w_enabled) begin
                    c_err = E_STATE;
                end
            end
            OP_SET_CQ: begin
                if ({24'd0, c_arg[7:0]} >= CQ_COUNT_32) begin
                    c_err = E_ARGUMENT;
                end else if (w_enabled) begin
                    c_err = E_STATE;
                end
            end
            OP_SET_IRQ: begin
                if ({24'd0, c_arg[7:0]} >= IRQ_COUNT_32) begin
                    c_err = E_ARGUMENT;
                end else if (w_enabled) begin
                    c_err = E_STATE;
                end
            end
            OP_SET_PROD: begin
                if (c_log2 == 5'd0) begin
                    c_err = E_STATE;
                end else if ({1'b0, c_arg16 - c_cons} > c_size) begin
                    c_err = E_OVERRUN;
                end
            end
            OP_SET_CONS, OP_SET_CONS_ARM: begin
                if (c_prod - c_arg16 > c_used) begin
                    c_err = E_OVERRUN;
                end
            end
            OP_ENABLE: begin
                if (c_log2 == 5'd0 || c_base_low != {ALIGN_BITS{1'b0}}
                    || (w_kind != KIND_CQ && !c_cq_enabled)) begin
                    c_err = E_STATE;
                end
            end
            OP_RESET_POINTERS: begin
                if (w_enabled) begin
                    c_err = E_STATE;
                end
            end
            default: c_err = E_NONE;
        endcase
    end
end

wire cmd_fire = wr_fire && wa_ok && w_cmd;
wire cmd_ok = cmd_fire && c_err == E_NONE;
wire cmd_bad = cmd_fire && c_err != E_NONE;
wire [15:0] arm_used = (c_op == OP_SET_CONS_ARM) ? c_prod - c_arg16 : c_used;
wire cmd_arm = cmd_ok && (c_op == OP_ARM || c_op == OP_SET_CONS_ARM);
wire cmd_arm_raise = cmd_arm && arm_used != 16'd0;

// ---------------------------------------------------------------- reads

wire rd_fire = s_axil_arvalid && (!rvalid_reg || s_axil_rready) && !s_axil_wvalid
            && !eng_update && !soft_reset_reg;
wire [31:0] ra = s_axil_araddr;
wire rd_bad = rd_fire && ra[1:0] != 2'b00;

reg [31:0] rd_word;
reg [QG_W-1:0] r_g;
reg [QS_BITS-1:0] r_qreg;
reg r_q_hit;
wire [QR_W-1:0] r_rel_tx = ra[QR_W-1:0] - TXQ_ARR_R;
wire [QR_W-1:0] r_rel_rx = ra[QR_W-1:0] - RXQ_ARR_R;
wire [QR_W-1:0] r_rel_cq = ra[QR_W-1:0] - CQ_ARR_R;
wire [VR_W-1:0] r_vec_rel = ra[VR_W-1:0] - VEC_ARR_R;
wire [IRQ_W-1:0] r_v = r_vec_rel[VS_BITS +: IRQ_W];
wire [3:0] r_key_i = ra[5:2] - KEY_ARR_W;
wire [6:0] r_tab_i = ra[8:2] - TAB_ARR_W;
always @* begin
    rd_word = 32'd0;
    r_q_hit = 1'b0;
    r_g = {QG_W{1'b0}};
    r_qreg = r_rel_tx[QS_BITS-1:0];
    if (ra >= TXQ_ARR && ra < TXQ_END) begin
        r_q_hit = 1'b1;
        r_g = r_rel_tx[QS_BITS +: QG_W];
    end else if (ra >= RXQ_ARR && ra < RXQ_END) begin
        r_q_hit = 1'b1;
        r_g = r_rel_rx[QS_BITS +: QG_W] + RXQ0_G;
        r_qreg = r_rel_rx[QS_BITS-1:0];
    end else if (ra >= CQ_ARR && ra < CQ_END) begin
        r_q_hit = 1'b1;
        r_g = r_rel_cq[QS_BITS +: QG_W] + CQ0_G;
        r_qreg = r_rel_cq[QS_BITS-1:0];
    end
    if (ra[1:0] != 2'b00 || ra >= BAR0_SIZE) begin
        rd_word = 32'd0;
    end else if (r_q_hit) begin
        case (r_qreg)
            Q_BASE_LO: rd_word = q_base_reg[r_g*64 +: 32];
            Q_BASE_HI: rd_word = q_base_reg[r_g*64 + 32 +: 32];
            Q_STATUS: rd_word = status_word(r_g);
            Q_PROD: rd_word = {16'd0, q_prod_reg[r_g*16 +: 16]};
            Q_CONS: rd_word = {16'd0, q_cons_reg[r_g*16 +: 16]};
            default: rd_word = 32'd0;
        endcase
    end else if (ra >= VEC_ARR && ra < VEC_END) begin
        case (r_vec_rel[VS_BITS-1:0])
            V_EVENTS: rd_word = irq_events_reg[r_v*32 +: 32];
            V_MASK: rd_word = {31'd0, irq_masked_reg[r_v]};
            default: rd_word = 32'd0;
        endcase
    end else if (ra >= KEY_ARR && ra < KEY_END) begin
        rd_word = rss_key_reg[r_key_i*32 +: 32];
    end else if (ra >= TAB_ARR && ra < TAB_END) begin
        rd_word = {24'd0, rss_table_reg[r_tab_i*8 +: 8]};
    end else if (ra >= STATS_LO && ra < STATS_HI && stats_rd_hit) begin
        rd_word = stats_rd_data;
    end else begin
        case (ra)
            `FT_IDENT_TYPE: rd_word = `FT_IDENT_TYPE_RESET;
            `FT_IDENT_VERSION: rd_word = `FT_IDENT_VERSION_RESET;
            `FT_IDENT_NEXT: rd_word = `FT_IDENT_NEXT_RESET;
            `FT_IDENT_SPEC_VERSION: rd_word = `FT_IDENT_SPEC_VERSION_RESET;
            `FT_IDENT_DEVICE_ID: rd_word = ID_DEVICE_ID;
            `FT_IDENT_BUILD_ID: rd_word = ID_BUILD;
            `FT_IDENT_CAPS: rd_word = ID_CAPS;
            `FT_IDENT_MAX_TSO_PAYLOAD: rd_word = ID_MAX_TSO;
            `FT_IDENT_MAX_FRAME_LEN: rd_word = ID_MAX_FRAME;
            `FT_IDENT_MSS_LIMITS: rd_word = ID_MSS;
            `FT_IDENT_QUEUE_COUNTS: rd_word = ID_COUNTS;
            `FT_IDENT_RING_LIMITS: rd_word = ID_RING;
            `FT_IDENT_DATAPATH: rd_word = ID_DATAPATH;
            `FT_CONTROL_TYPE: rd_word = `FT_CONTROL_TYPE_RESET;
            `FT_CONTROL_VERSION: rd_word = `FT_CONTROL_VERSION_RESET;
            `FT_CONTROL_NEXT: rd_word = `FT_CONTROL_NEXT_RESET;
            `FT_CONTROL_CTRL: rd_word = ctrl_reg;
            `FT_CONTROL_STATUS: rd_word = control_status;
            `FT_CONTROL_ERROR_STATUS: rd_word = error_status_reg;
            `FT_CONTROL_ERROR_COUNT: rd_word = error_count_reg;
            `FT_CONTROL_LAST_ERROR: rd_word = last_error_reg;
            `FT_CONTROL_LAST_ERROR_ADDR_LO: rd_word = last_error_addr_reg[31:0];
            `FT_CONTROL_LAST_ERROR_ADDR_HI: rd_word = last_error_addr_reg[63:32];
            `FT_CONTROL_TSO_FLAGS_FIRST: rd_word = {{(32-FLAGS_W){1'b0}}, tso_first_reg};
            `FT_CONTROL_TSO_FLAGS_MIDDLE: rd_word = {{(32-FLAGS_W){1'b0}}, tso_middle_reg};
            `FT_CONTROL_TSO_FLAGS_LAST: rd_word = {{(32-FLAGS_W){1'b0}}, tso_last_reg};
            `FT_CONTROL_TIMESTAMP_LO: rd_word = time_reg[31:0];
            `FT_CONTROL_TIMESTAMP_HI: rd_word = time_reg[63:32];
            `FT_CONTROL_SCRATCH: rd_word = scratch_reg;
            `FT_CONTROL_RX_DROPS_NO_QUEUE: rd_word = stats_rx_drops_no_queue;
            `FT_TXQ_TYPE: rd_word = `FT_TXQ_TYPE_RESET;
            `FT_TXQ_VERSION: rd_word = `FT_TXQ_VERSION_RESET;
            `FT_TXQ_NEXT: rd_word = `FT_TXQ_NEXT_RESET;
            `FT_RXQ_TYPE: rd_word = `FT_RXQ_TYPE_RESET;
            `FT_RXQ_VERSION: rd_word = `FT_RXQ_VERSION_RESET;
            `FT_RXQ_NEXT: rd_word = `FT_RXQ_NEXT_RESET;
            `FT_CQ_TYPE: rd_word = `FT_CQ_TYPE_RESET;
            `FT_CQ_VERSION: rd_word = `FT_CQ_VERSION_RESET;
            `FT_CQ_NEXT: rd_word = `FT_CQ_NEXT_RESET;
            `FT_STATS_TYPE: rd_word = `FT_STATS_TYPE_RESET;
            `FT_STATS_VERSION: rd_word = `FT_STATS_VERSION_RESET;
            `FT_STATS_NEXT: rd_word = `FT_STATS_NEXT_RESET;
            `FT_IRQ_TYPE: rd_word = `FT_IRQ_TYPE_RESET;
            `FT_IRQ_VERSION: rd_word = `FT_IRQ_VERSION_RESET;
            `FT_IRQ_NEXT: rd_word = `FT_IRQ_NEXT_RESET;
            `FT_RSS_TYPE: rd_word = `FT_RSS_TYPE_RESET;
            `FT_RSS_VERSION: rd_word = `FT_RSS_VERSION_RESET;
            default: rd_word = 32'd0;
        endcase
    end
end

function [31:0] status_word(input [QG_W-1:0] g);
    begin
        status_word = 32'd0;
        status_word[`FT_TXQ_STATUS_ENABLED_LSB] = q_enabled_reg[g];
        status_word[`FT_TXQ_STATUS_STOPPED_ON_FAULT_LSB] = q_stopped_reg[g];
        status_word[`FT_TXQ_STATUS_ARMED_LSB] = q_armed_reg[g];
        status_word[`FT_TXQ_STATUS_LOG2_SIZE_RANGE] = q_log2_reg[g*5 +: 5];
        status_word[`FT_TXQ_STATUS_BINDING_RANGE] = q_binding_reg[g*8 +: 8];
    end
endfunction

reg [31:0] control_status;
always @* begin
    control_status = 32'd0;
    control_status[`FT_CONTROL_STATUS_ENABLED_LSB] = ctrl_reg[`FT_CONTROL_CTRL_ENABLE_LSB];
    control_status[`FT_CONTROL_STATUS_ERROR_LSB] = error_status_reg != 32'd0;
end

// ---------------------------------------------------------------- error recording

// Engine error requests, lowest source first; never in the same cycle as a register access.
wire [2:0] err_grant = err_valid[0] ? 3'b001 : err_valid[1] ? 3'b010 : err_valid[2] ? 3'b100
                     : 3'b000;
wire [1:0] e_src = err_valid[0] ? 2'd0 : err_valid[1] ? 2'd1 : 2'd2;
wire eng_err = err_valid != 3'd0;

wire mmio_err = wr_bad || wr_base_bad || cmd_bad || rd_bad;
wire rec_valid = mmio_err || eng_err;
reg [7:0] rec_code;
reg [1:0] rec_kind;
reg [15:0] rec_queue;
reg [63:0] rec_addr;
reg rec_stop;
always @* begin
    rec_stop = 1'b0;
    if (wr_bad) begin
        rec_code = E_REGISTER;
        rec_kind = KIND_NONE;
        rec_queue = 16'd0;
        rec_addr = {32'd0, wa};
    end else if (wr_base_bad) begin
        rec_code = E_REGISTER;
        rec_kind = w_kind;
        rec_queue = local_index(w_g, w_kind);
        rec_addr = {32'd0, wa};
    end else if (cmd_bad) begin
        rec_code = c_err;
        rec_kind = w_kind;
        rec_queue = local_index(w_g, w_kind);
        rec_addr = {32'd0, wa};
    end else if (rd_bad) begin
        rec_code = E_REGISTER;
        rec_kind = KIND_NONE;
        rec_queue = 16'd0;
        rec_addr = {32'd0, ra};
    end else begin
        rec_code = err_code[e_src*8 +: 8];
        rec_kind = err_kind[e_src*2 +: 2];
        rec_queue = err_queue[e_src*16 +: 16];
        rec_addr = err_addr[e_src*64 +: 64];
        rec_stop = err_stop[e_src];
    end
end

function [15:0] local_index(input [QG_W-1:0] g, input [1:0] kind);
    reg [QG_W-1:0] v;
    begin
        if (kind == KIND_RX) begin
            v = g - RXQ0_G;
        end else if (kind == KIND_CQ) begin
            v = g - CQ0_G;
        end else begin
            v = g;
        end
        local_index = {{(16-QG_W){1'b0}}, v};
    end
endfunction

// The queue an engine error stops (rec_queue fits: the engines name existing queues).
reg [QG_W-1:0] stop_g;
always @* begin
    case (rec_kind)
        KIND_RX: stop_g = rec_queue[QG_W-1:0] + RXQ0_G;
        KIND_CQ: stop_g = rec_queue[QG_W-1:0] + CQ0_G;
        default: stop_g = rec_queue[QG_W-1:0];
    endcase
end

function [31:0] status_bit(input [7:0] code);
    begin
        case (code)
            E_DMA_FAULT: status_bit = `FT_CONTROL_ERROR_STATUS_DMA_FAULT_MASK;
            E_REGISTER: status_bit = `FT_CONTROL_ERROR_STATUS_BAD_REGISTER_ACCESS_MASK;
            E_OPCODE, E_ARGUMENT, E_STATE, E_OVERRUN:
                status_bit = `FT_CONTROL_ERROR_STATUS_BAD_COMMAND_MASK;
            default: status_bit = `FT_CONTROL_ERROR_STATUS_BAD_DESCRIPTOR_MASK;
        endcase
    end
endfunction

// ---------------------------------------------------------------- completion posts and raises

wire [QG_W-1:0] post_g = cq_g(cq_post_q);
wire post_raise = cq_post_valid && q_armed_reg[post_g];
wire raise = post_raise || cmd_arm_raise;
wire [7:0] raise_v8 = post_raise ? q_binding_reg[post_g*8 +: 8] : c_binding;
wire raise_ok = {24'd0, raise_v8} < IRQ_COUNT;
wire [IRQ_W-1:0] raise_v = raise_v8[IRQ_W-1:0];

wire [QG_W-1:0] txc_g = {{(QG_W-TXQ_W){1'b0}}, txq_cons_q};
wire [QG_W-1:0] rxc_g = {{(QG_W-RXQ_W){1'b0}}, rxq_cons_q} + RXQ0_G;

// ---------------------------------------------------------------- dirty groups

reg [DIRTY_WIDTH-1:0] dirty_set;
always @* begin
    dirty_set = {DIRTY_WIDTH{1'b0}};
    if (rec_valid || stats_dirty_control || (wr_fire && wa_ok && (w_ctrl || w_errst))) begin
        dirty_set[G_CONTROL] = 1'b1;
    end
    if (time_ns != time_reg) begin
        dirty_set[G_TIME] = 1'b1;
    end
    if (cmd_ok) begin
        dirty_set[G_Q + {{(32-QG_W){1'b0}}, w_g}] = 1'b1;
    end
    if (rec_valid && rec_stop) begin
        dirty_set[G_Q + {{(32-QG_W){1'b0}}, stop_g}] = 1'b1;
    end
    if (txq_cons_we) begin
        dirty_set[G_Q + {{(32-QG_W){1'b0}}, txc_g}] = 1'b1;
    end
    if (rxq_cons_we) begin
        dirty_set[G_Q + {{(32-QG_W){1'b0}}, rxc_g}] = 1'b1;
    end
    if (cq_post_valid) begin
        dirty_set[G_Q + {{(32-QG_W){1'b0}}, post_g}] = 1'b1;
    end
    if (raise && raise_ok) begin
        dirty_set[G_IRQ + {{(32-IRQ_W){1'b0}}, raise_v}] = 1'b1;
    end
    dirty_set[G_TXS +: TX_QUEUES] = stats_dirty_tx;
    dirty_set[G_RXS +: RX_QUEUES] = stats_dirty_rx;
    if (soft_reset_reg) begin
        dirty_set = {DIRTY_WIDTH{1'b1}};
        dirty_set[G_ALL] = 1'b1;
    end
end

// ---------------------------------------------------------------- sequential

always @(posedge clk) begin
    soft_reset_reg <= 1'b0;
    irq_valid_reg <= 1'b0;
    doorbell_reg <= {TX_QUEUES{1'b0}};
    time_reg <= time_ns;
    dirty_reg <= (dirty_reg & ~reg_dirty_ack) | dirty_set;

    // Register port handshakes
    if (s_axil_bready) begin
        bvalid_reg <= 1'b0;
    end
    if (wr_fire) begin
        bvalid_reg <= 1'b1;
    end
    if (s_axil_rready) begin
        rvalid_reg <= 1'b0;
    end
    if (rd_fire) begin
        rvalid_reg <= 1'b1;
        rdata_reg <= rd_word;
    end

    // Writes to plain registers
    if (wr_fire && wa_ok) begin
        if (w_ctrl) begin
            if (wd[`FT_CONTROL_CTRL_RESET_LSB]) begin
                soft_reset_reg <= 1'b1;
            end else begin
                ctrl_reg <= wd & CTRL_WRITABLE;
            end
        end
        if (w_errst) begin
            error_status_reg <= error_status_reg & ~wd;
        end
        if (w_tso_first) begin
            tso_first_reg <= wd[FLAGS_W-1:0];
        end
        if (w_tso_middle) begin
            tso_middle_reg <= wd[FLAGS_W-1:0];
        end
        if (w_tso_last) begin
            tso_last_reg <= wd[FLAGS_W-1:0];
        end
        if (w_scratch) begin
            scratch_reg <= wd;
        end
        if (w_mask) begin
            irq_masked_reg[w_vec] <= wd[`FT_VECTOR_MASK_MASKED_LSB];
        end
        if (w_key) begin
            rss_key_reg[w_key_i*32 +: 32] <= wd;
        end
        if (w_tab) begin
            rss_table_reg[w_tab_i*8 +: 8] <= wd[`FT_RSS_TABLE_ENTRY_QUEUE_RANGE];
        end
        if (w_base && !w_enabled) begin
            if (w_qreg == Q_BASE_LO) begin
                q_base_reg[w_g*64 +: 32] <= wd;
            end else begin
                q_base_reg[w_g*64 + 32 +: 32] <= wd;
            end
        end
    end

    // Commands
    if (cmd_ok) begin
        case (c_op)
            OP_SET_LOG2_SIZE: q_log2_reg[w_g*5 +: 5] <= c_arg[4:0];
            OP_SET_CQ, OP_SET_IRQ: q_binding_reg[w_g*8 +: 8] <= c_arg[7:0];
            OP_SET_PROD: q_prod_reg[w_g*16 +: 16] <= c_arg16;
            OP_SET_CONS, OP_SET_CONS_ARM: q_cons_reg[w_g*16 +: 16] <= c_arg16;
            OP_ENABLE: begin
                q_enabled_reg[w_g] <= 1'b1;
                q_stopped_reg[w_g] <= 1'b0;
            end
            OP_DISABLE: q_enabled_reg[w_g] <= 1'b0;
            OP_RESET_POINTERS: begin
                q_prod_reg[w_g*16 +: 16] <= 16'd0;
                q_cons_reg[w_g*16 +: 16] <= 16'd0;
            end
            default: begin
            end
        endcase
        if (cmd_arm) begin
            q_armed_reg[w_g] <= !cmd_arm_raise;
        end
        if (w_kind == KIND_TX && (c_op == OP_SET_PROD || c_op == OP_ENABLE
                                  || c_op == OP_RESET_POINTERS)) begin
            doorbell_reg[w_g[TXQ_W-1:0]] <= 1'b1;
        end
    end

    // Engine updates
    if (txq_cons_we) begin
        q_cons_reg[txc_g*16 +: 16] <= txq_cons_val;
    end
    if (rxq_cons_we) begin
        q_cons_reg[rxc_g*16 +: 16] <= rxq_cons_val;
    end
    if (cq_post_valid) begin
        q_prod_reg[post_g*16 +: 16] <= q_prod_reg[post_g*16 +: 16] + 16'd1;
        if (q_armed_reg[post_g]) begin
            q_armed_reg[post_g] <= 1'b0;
        end
    end

    // Interrupts
    if (raise && raise_ok) begin
        irq_events_reg[raise_v*32 +: 32] <= irq_events_reg[raise_v*32 +: 32] + 32'd1;
        irq_valid_reg <= !irq_masked_reg[raise_v];
        irq_vector_reg <= raise_v8;
    end

    // Errors (SPEC 8)
    if (rec_valid) begin
        error_status_reg <= error_status_reg | status_bit(rec_code)
            | (rec_stop ? `FT_CONTROL_ERROR_STATUS_QUEUE_STOPPED_MASK : 32'd0);
        if (error_count_reg != 32'hFFFF_FFFF) begin
            error_count_reg <= error_count_reg + 32'd1;
        end
        last_error_reg <= ({24'd0, rec_code} << `FT_CONTROL_LAST_ERROR_CODE_LSB)
                        | ({16'd0, rec_queue} << `FT_CONTROL_LAST_ERROR_QUEUE_LSB)
                        | ({30'd0, rec_kind} << `FT_CONTROL_LAST_ERROR_QUEUE_KIND_LSB);
        last_error_addr_reg <= rec_addr;
        if (rec_stop) begin
            q_enabled_reg[stop_g] <= 1'b0;
            q_stopped_reg[stop_g] <= 1'b1;
        end
    end

    if (rst || soft_reset_reg) begin
        ctrl_reg <= 32'd0;
        error_status_reg <= 32'd0;
        error_count_reg <= 32'd0;
        last_error_reg <= 32'd0;
        last_error_addr_reg <= 64'd0;
        tso_first_reg <= TSO_FIRST_RESET[FLAGS_W-1:0];
        tso_middle_reg <= TSO_MIDDLE_RESET[FLAGS_W-1:0];
        tso_last_reg <= TSO_LAST_RESET[FLAGS_W-1:0];
        time_reg <= 64'd0;
        scratch_reg <= 32'd0;
        rss_key_reg <= {`FT_RSS_KEY_WORDS*32{1'b0}};
        rss_table_reg <= {`FT_RSS_TABLE_ENTRIES*8{1'b0}};
        q_base_reg <= {NQ*64{1'b0}};
        q_log2_reg <= {NQ*5{1'b0}};
        q_enabled_reg <= {NQ{1'b0}};
        q_stopped_reg <= {NQ{1'b0}};
        q_armed_reg <= {NQ{1'b0}};
        q_binding_reg <= {NQ*8{1'b0}};
        q_prod_reg <= {NQ*16{1'b0}};
        q_cons_reg <= {NQ*16{1'b0}};
        irq_events_reg <= {IRQ_COUNT*32{1'b0}};
        irq_masked_reg <= {IRQ_COUNT{1'b0}};
        irq_valid_reg <= 1'b0;
        doorbell_reg <= {TX_QUEUES{1'b0}};
    end
    if (rst) begin
        soft_reset_reg <= 1'b0;
        dirty_reg <= {DIRTY_WIDTH{1'b1}};
        bvalid_reg <= 1'b0;
        rvalid_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------- outputs

assign soft_reset = soft_reset_reg;
assign s_axil_wready = !bvalid_reg && !eng_update && !soft_reset_reg;
assign s_axil_bvalid = bvalid_reg;
assign s_axil_arready = (!rvalid_reg || s_axil_rready) && !s_axil_wvalid && !eng_update
                     && !soft_reset_reg;
assign s_axil_rvalid = rvalid_reg;
assign s_axil_rdata = rdata_reg;
assign err_ready = err_grant;
assign reg_dirty = dirty_reg;
assign irq_valid = irq_valid_reg;
assign irq_vector = irq_vector_reg;

assign ctrl_enable = ctrl_reg[`FT_CONTROL_CTRL_ENABLE_LSB];
assign ctrl_rx_csum = ctrl_reg[`FT_CONTROL_CTRL_RX_CSUM_ENABLE_LSB];
assign ctrl_rss = ctrl_reg[`FT_CONTROL_CTRL_RSS_ENABLE_LSB];
assign tso_flags_first = tso_first_reg;
assign tso_flags_middle = tso_middle_reg;
assign tso_flags_last = tso_last_reg;
assign time_now = time_ns;
assign txq_doorbell = doorbell_reg;
assign rss_table = rss_table_reg;

genvar gi;
generate
    for (gi = 0; gi < `FT_RSS_KEY_WORDS; gi = gi + 1) begin : g_key
        // Word 0 (key bytes 0..3) in the top bits, as ft_rx_csum expects.
        assign rss_key[(`FT_RSS_KEY_WORDS - 1 - gi) * 32 +: 32] = rss_key_reg[gi * 32 +: 32];
    end
    for (gi = 0; gi < TX_QUEUES; gi = gi + 1) begin : g_txq
        assign txq_cq[gi * CQ_W +: CQ_W] = q_binding_reg[gi * 8 +: CQ_W];
    end
    for (gi = 0; gi < RX_QUEUES; gi = gi + 1) begin : g_rxq
        assign rxq_cq[gi * CQ_W +: CQ_W] = q_binding_reg[(RXQ0 + gi) * 8 +: CQ_W];
    end
endgenerate

assign txq_base = q_base_reg[0 +: TX_QUEUES*64];
assign txq_log2 = q_log2_reg[0 +: TX_QUEUES*5];
assign txq_enabled = q_enabled_reg[0 +: TX_QUEUES];
assign txq_prod = q_prod_reg[0 +: TX_QUEUES*16];
assign txq_cons = q_cons_reg[0 +: TX_QUEUES*16];
assign rxq_base = q_base_reg[RXQ0*64 +: RX_QUEUES*64];
assign rxq_log2 = q_log2_reg[RXQ0*5 +: RX_QUEUES*5];
assign rxq_enabled = q_enabled_reg[RXQ0 +: RX_QUEUES];
assign rxq_prod = q_prod_reg[RXQ0*16 +: RX_QUEUES*16];
assign rxq_cons = q_cons_reg[RXQ0*16 +: RX_QUEUES*16];
assign cq_base = q_base_reg[CQ0*64 +: CQ_COUNT*64];
assign cq_log2 = q_log2_reg[CQ0*5 +: CQ_COUNT*5];
assign cq_enabled = q_enabled_reg[CQ0 +: CQ_COUNT];
assign cq_prod = q_prod_reg[CQ0*16 +: CQ_COUNT*16];
assign cq_cons = q_cons_reg[CQ0*16 +: CQ_COUNT*16];

endmodule

`resetall
