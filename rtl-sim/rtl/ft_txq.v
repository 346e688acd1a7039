// ft_txq: the TX queue engine: scheduling, descriptor chains, gathering, the TX offload engine,
// completions and TX statistics (hw-spec SPEC.md 5 and 6).
//
// Owns, in request order:
//
//   scheduler -> descriptor fetch -> C1-C4 (probes) -> buffer reads -> ft_gather -> ft_tx_engine
//        |                 |                                                          |
//        +-- reservation   +-- in-flight queue (one entry per request) --> completion stage
//
// - Scheduler: round robin over the TX queues. A queue is eligible when the device is enabled,
//   the queue is enabled, its producer differs from its consumer, it is not waiting for the
//   rest of a chain, and its completion queue has room (ft_cpl reservations). The search starts
//   at the queue after the one served last, so queues with work alternate one request each.
//   sched_enable (tie high in hardware) lets a simulator hold the start of new requests while
//   it applies register accesses, so the arbitration sees what a step-based model sees.
// - Descriptor fetch: one 32-byte DMA read per descriptor from the consumer on, up to the first
//   EOP, at most MAX_SG, never beyond the producer. A chain the producer does not cover yet
//   (no EOP within fewer than MAX_SG descriptors) is left alone until the queue's next
//   doorbell. A fetch that faults stops the queue (error DMA_FAULT, no completion).
// - C1-C4, per descriptor in ring order, first failure wins: C1 reserved bits, reserved L4
//   type, SOP only and exactly on the first, offload fields only on the first (BAD_FLAGS); C2
//   length (BAD_LENGTH); C3 an EOP within MAX_SG (SG_TOO_LONG); C4 a DMA check of the buffer
//   (DMA_FAULT at the faulting IOVA). The check of every buffer precedes the first data read,
//   so a request that fails sends nothing. A failing request consumes its chain and gets one
//   error completion (LEN the bytes of the descriptors before the failing one).
// - Buffer reads stream the chain's bytes (at most the largest valid request: more fails F4 or
//   F9 anyway, decided on that prefix with the full length) through ft_gather into
//   ft_tx_engine, with the SOP descriptor's offload fields and the summed length as the
//   request sideband; ft_tx_engine validates (F1-F10), segments and inserts checksums.
// - Completion stage, one request at a time in order: reports the request's error (ring
//   faults: stop the queue), waits until the request's wire frames have left m_axis, asks
//   ft_cpl for the completion, and counts the request in ft_stats.
//
// The front end runs ahead of the completion stage by up to 2^INFLIGHT_LOG2 requests, so
// descriptor work overlaps the data of earlier requests. Must not: touch registers (updates go
// through the consumer pointer, error and statistics ports), or write completions itself.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_txq #(
    parameter DATA_WIDTH = 512,
    parameter TX_QUEUES = 4,
    parameter CQ_COUNT = 8,
    parameter MAX_SG = 16,
    parameter MAX_FRAME_LEN = 9216,
    parameter MAX_TSO_PAYLOAD = 65535,
    parameter MIN_MSS = 64,
    parameter MAX_MSS = 9162,
    // IDENT.CAPS word (the offloads the engine performs).
    parameter CAPS = 32'h000000FF,
    // log2 of the requests that may be between the front end and the completion stage.
    parameter INFLIGHT_LOG2 = 4,
    // Derived, do not override.
    parameter TXQ_W = TX_QUEUES > 1 ? $clog2(TX_QUEUES) : 1,
    parameter CQ_W = CQ_COUNT > 1 ? $clog2(CQ_COUNT) : 1,
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    input  wire                                    ctrl_enable,
    input  wire                                    sched_enable,
    input  wire [`FT_CONTROL_TSO_FLAGS_FIRST_FLAGS_WIDTH-1:0]  tso_flags_first,
    input  wire [`FT_CONTROL_TSO_FLAGS_MIDDLE_FLAGS_WIDTH-1:0] tso_flags_middle,
    input  wire [`FT_CONTROL_TSO_FLAGS_LAST_FLAGS_WIDTH-1:0]   tso_flags_last,

    // TX queue state (ft_regs)
    input  wire [TX_QUEUES*64-1:0]                 txq_base,
    input  wire [TX_QUEUES*5-1:0]                  txq_log2,
    input  wire [TX_QUEUES-1:0]                    txq_enabled,
    input  wire [TX_QUEUES*CQ_W-1:0]               txq_cq,
    input  wire [TX_QUEUES*16-1:0]                 txq_prod,
    input  wire [TX_QUEUES*16-1:0]                 txq_cons,
    input  wire [TX_QUEUES-1:0]                    txq_doorbell,
    output wire                                    txq_cons_we,
    output wire [TXQ_W-1:0]                        txq_cons_q,
    output wire [15:0]                             txq_cons_val,

    // Completion queue room and reservations (ft_cpl)
    input  wire [CQ_COUNT-1:0]                     cq_room,
    output wire                                    resv_valid,
    output wire [CQ_W-1:0]                         resv_cq,
    output wire                                    unresv_valid,
    output wire [CQ_W-1:0]                         unresv_cq,

    // DMA read client
    output wire                                    m_rd_req_valid,
    input  wire                                    m_rd_req_ready,
    output wire [63:0]                             m_rd_req_addr,
    output wire [31:0]                             m_rd_req_len,
    output wire [2:0]                              m_rd_req_tag,
    output wire                                    m_rd_req_check,
    input  wire                                    s_rd_rsp_valid,
    output wire                                    s_rd_rsp_ready,
    input  wire [DATA_WIDTH-1:0]                   s_rd_rsp_data,
    input  wire [KEEP_WIDTH-1:0]                   s_rd_rsp_keep,
    input  wire                                    s_rd_rsp_last,
    input  wire                                    s_rd_rsp_fault,
    input  wire [63:0]                             s_rd_rsp_fault_addr,
    input  wire [2:0]                              s_rd_rsp_tag,

    // Wire
    output wire [DATA_WIDTH-1:0]                   m_axis_tdata,
    output wire [KEEP_WIDTH-1:0]                   m_axis_tkeep,
    output wire                                    m_axis_tvalid,
    input  wire                                    m_axis_tready,
    output wire                                    m_axis_tlast,

    // Completions (ft_cpl)
    output wire                                    cpl_valid,
    input  wire                                    cpl_ready,
    output wire [CQ_W-1:0]                         cpl_cq,
    output wire [`FT_CPL_BITS-1:0]                 cpl_entry,

    // Error report (ft_regs)
    output wire                                    err_valid,
    input  wire                                    err_ready,
    output wire [`FT_ERROR_CODE_WIDTH-1:0]         err_code,
    output wire [15:0]                             err_queue,
    output wire [63:0]                             err_addr,
    output wire                                    err_stop,

    // Statistics (ft_stats)
    output wire                                    st_valid,
    output wire [TXQ_W-1:0]                        st_q,
    output wire                                    st_error,
    output wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       st_frames,
    output wire [31:0]                             st_bytes,
    output wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       st_csum_frames,
    output wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       st_tso_frames,

    // Activity: a request was taken (chain consumed, or its ring faulted) / completed; nothing
    // in flight and nothing startable; some queue has startable work.
    output wire                                    req_start,
    output wire                                    req_done,
    output wire                                    idle,
    output wire                                    work
);

// ---------------------------------------------------------------- constants

localparam SG_W = $clog2(MAX_SG + 1);
localparam IDX_W = MAX_SG > 1 ? $clog2(MAX_SG) : 1;
localparam [31:0] MAX_SG_32 = MAX_SG;
localparam [SG_W-1:0] MAX_SG_S = MAX_SG_32[SG_W-1:0];
localparam [15:0] MAX_SG_16 = MAX_SG_32[15:0];
localparam TXD_BITS = `FT_TXD_BITS;
localparam TXD_SHIFT = $clog2(`FT_TXD_SIZE);
localparam DESC_BEATS = DATA_WIDTH >= TXD_BITS ? 1 : TXD_BITS / DATA_WIDTH;
localparam DB_W = DESC_BEATS > 1 ? $clog2(DESC_BEATS) : 1;
localparam HDR_MAX = `FT_MAX_L2_LEN + `FT_MAX_L3_LEN + `FT_MAX_TCP_LEN;
localparam CAP_TSO = (CAPS & `FT_IDENT_CAPS_TSO_MASK) != 0;
// The most bytes a valid request can have; longer requests are judged on this prefix.
localparam CAP_TOTAL = (CAP_TSO && HDR_MAX + MAX_TSO_PAYLOAD > MAX_FRAME_LEN)
                     ? HDR_MAX + MAX_TSO_PAYLOAD : MAX_FRAME_LEN;
localparam [31:0] CAP_TOTAL_32 = CAP_TOTAL;
localparam [35:0] CAP_LEN = {4'd0, CAP_TOTAL_32};
localparam SEG_W = `FT_CPL_SEGMENTS_WIDTH;

localparam [2:0] TAG_DESC = 3'd0;
localparam [2:0] TAG_PROBE = 3'd1;
localparam [2:0] TAG_DATA = 3'd2;
localparam [2:0] TAG_DATA_EOF = 3'd3;

localparam [7:0] E_NONE = `FT_ERROR_CODE_NONE;
localparam [7:0] E_DMA_FAULT = `FT_ERROR_CODE_DMA_FAULT;
localparam [7:0] E_BAD_LENGTH = `FT_ERROR_CODE_BAD_LENGTH;
localparam [7:0] E_BAD_FLAGS = `FT_ERROR_CODE_BAD_FLAGS;
localparam [7:0] E_SG_TOO_LONG = `FT_ERROR_CODE_SG_TOO_LONG;

localparam [1:0] L4_NONE = `FT_L4_CSUM_NONE;
localparam [1:0] L4_TCP = `FT_L4_CSUM_TCP;
localparam [1:0] L4_UDP = `FT_L4_CSUM_UDP;

// Bits of a TX descriptor that belong to a field; the rest are reserved.
function [TXD_BITS-1:0] field(input integer lsb, input integer width);
    begin
        field = (({TXD_BITS{1'b0}} | ((256'd1 << width) - 256'd1)) << lsb);
    end
endfunction
localparam [TXD_BITS-1:0] TXD_USED =
      field(`FT_TXD_ADDR_LSB, `FT_TXD_ADDR_WIDTH) | field(`FT_TXD_LEN_LSB, `FT_TXD_LEN_WIDTH)
    | field(`FT_TXD_SOP_LSB, `FT_TXD_SOP_WIDTH) | field(`FT_TXD_EOP_LSB, `FT_TXD_EOP_WIDTH)
    | field(`FT_TXD_IP_CSUM_LSB, `FT_TXD_IP_CSUM_WIDTH)
    | field(`FT_TXD_L4_CSUM_LSB, `FT_TXD_L4_CSUM_WIDTH)
    | field(`FT_TXD_TSO_LSB, `FT_TXD_TSO_WIDTH) | field(`FT_TXD_MSS_LSB, `FT_TXD_MSS_WIDTH)
    | field(`FT_TXD_L2_LEN_LSB, `FT_TXD_L2_LEN_WIDTH)
    | field(`FT_TXD_L4_LEN_LSB, `FT_TXD_L4_LEN_WIDTH)
    | field(`FT_TXD_L3_LEN_LSB, `FT_TXD_L3_LEN_WIDTH);

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (MAX_SG < 1 || MAX_SG > 255) begin
        $display("Error: MAX_SG must be 1..255 (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------- in-flight queue

localparam [1:0] M_DATA = 2'd0;
localparam [1:0] M_ERR = 2'd1;
localparam [1:0] M_FAULT = 2'd2;
localparam META_W = 2 + TXQ_W + CQ_W + 8 + 64 + 16 + 8 + 32 + 1;
localparam REQ_W = 32 + 1 + 2 + 1 + 16 + 8 + 16 + 8;

reg meta_push;
reg [META_W-1:0] meta_in;
wire meta_in_ready;
wire [META_W-1:0] meta_out;
wire meta_valid;
reg meta_pop;
// The count is not needed: the front end checks for room before it starts a request.
/* verilator lint_off UNUSEDSIGNAL */
wire [INFLIGHT_LOG2:0] meta_count;
/* verilator lint_on UNUSEDSIGNAL */

ft_fifo #(
    .WIDTH(META_W),
    .ADDR_WIDTH(INFLIGHT_LOG2)
) u_meta (
    .clk(clk),
    .rst(rst),
    .s_data(meta_in),
    .s_valid(meta_push),
    .s_ready(meta_in_ready),
    .m_data(meta_out),
    .m_valid(meta_valid),
    .m_ready(meta_pop),
    .count(meta_count)
);

reg req_push;
reg [REQ_W-1:0] req_in;
wire req_in_ready;
wire [REQ_W-1:0] req_out;
wire req_valid;
wire req_pop;
// The count is not needed: the front end checks for room before it starts a request.
/* verilator lint_off UNUSEDSIGNAL */
wire [INFLIGHT_LOG2:0] req_count;
/* verilator lint_on UNUSEDSIGNAL */

ft_fifo #(
    .WIDTH(REQ_W),
    .ADDR_WIDTH(INFLIGHT_LOG2)
) u_req (
    .clk(clk),
    .rst(rst),
    .s_data(req_in),
    .s_valid(req_push),
    .s_ready(req_in_ready),
    .m_data(req_out),
    .m_valid(req_valid),
    .m_ready(req_pop),
    .count(req_count)
);

// ---------------------------------------------------------------- scheduler

localparam [3:0] F_IDLE = 4'd0;
localparam [3:0] F_FETCH_REQ = 4'd1;
localparam [3:0] F_FETCH_RSP = 4'd2;
localparam [3:0] F_CHECK = 4'd3;
localparam [3:0] F_PROBE_REQ = 4'd4;
localparam [3:0] F_PROBE_RSP = 4'd5;
localparam [3:0] F_COMMIT_ERR = 4'd6;
localparam [3:0] F_READ = 4'd7;

reg [3:0] front_reg = F_IDLE;
reg [TXQ_W-1:0] rr_reg = {TXQ_W{1'b0}};
reg [TX_QUEUES-1:0] wait_reg = {TX_QUEUES{1'b0}};
reg fault_stall_reg = 1'b0;
// A doorbell of the queue being fetched arrived since it was picked: its chain may be whole now.
reg rung_reg = 1'b0;

reg [TX_QUEUES-1:0] elig;
integer qi;
always @* begin
    for (qi = 0; qi < TX_QUEUES; qi = qi + 1) begin
        elig[qi] = txq_enabled[qi] && txq_prod[qi*16 +: 16] != txq_cons[qi*16 +: 16]
                && !wait_reg[qi] && cq_room[txq_cq[qi*CQ_W +: CQ_W]];
    end
end

wire can_start = front_reg == F_IDLE && ctrl_enable && sched_enable && !fault_stall_reg
              && meta_in_ready && req_in_ready;
reg found;
reg [TXQ_W-1:0] pick;
reg [31:0] cand;
integer pk;
always @* begin
    found = 1'b0;
    pick = {TXQ_W{1'b0}};
    cand = 32'd0;
    for (pk = 0; pk < TX_QUEUES; pk = pk + 1) begin
        cand = {{(32-TXQ_W){1'b0}}, rr_reg} + pk;
        if (cand >= TX_QUEUES) begin
            cand = cand - TX_QUEUES;
        end
        if (!found && elig[cand[TXQ_W-1:0]]) begin
            found = 1'b1;
            pick = cand[TXQ_W-1:0];
        end
    end
end
wire start = can_start && found;

// ---------------------------------------------------------------- front end state

reg [TXQ_W-1:0] q_reg = {TXQ_W{1'b0}};
reg [CQ_W-1:0] cq_reg = {CQ_W{1'b0}};
reg [63:0] base_reg = 64'd0;
reg [15:0] mask_reg = 16'd0;
reg [15:0] cons_reg = 16'd0;
reg [SG_W-1:0] scan_reg = {SG_W{1'b0}};
reg [SG_W-1:0] k_reg = {SG_W{1'b0}};
reg [SG_W-1:0] chain_reg = {SG_W{1'b0}};
reg [SG_W-1:0] i_reg = {SG_W{1'b0}};
reg [35:0] sum_reg = 36'd0;
reg [35:0] streamed_reg = 36'd0;
reg [DB_W-1:0] beat_reg = {DB_W{1'b0}};
reg [7:0] code_reg = 8'd0;
reg [63:0] eaddr_reg = 64'd0;

// Descriptors of the chain (index j in slice j)
reg [MAX_SG*64-1:0] d_addr_reg = {MAX_SG*64{1'b0}};
reg [MAX_SG*32-1:0] d_len_reg = {MAX_SG*32{1'b0}};
reg [MAX_SG-1:0] d_eop_reg = {MAX_SG{1'b0}};
reg [MAX_SG-1:0] d_c1_reg = {MAX_SG{1'b0}};
// Offload request of the SOP descriptor
reg o_ip_reg = 1'b0;
reg [1:0] o_l4_reg = 2'd0;
reg o_tso_reg = 1'b0;
reg [15:0] o_mss_reg = 16'd0;
reg [7:0] o_l2_reg = 8'd0;
reg [15:0] o_l3_reg = 16'd0;
reg [7:0] o_l4len_reg = 8'd0;

wire rsp_is_desc = s_rd_rsp_tag == TAG_DESC || s_rd_rsp_tag == TAG_PROBE;
wire fe_rsp = s_rd_rsp_valid && rsp_is_desc
           && (front_reg == F_FETCH_RSP || front_reg == F_PROBE_RSP);

// The descriptor arriving (the last beat completes it)
wire [TXD_BITS-1:0] raw_now;
generate
    if (DATA_WIDTH >= TXD_BITS) begin : g_raw_one
        assign raw_now = s_rd_rsp_data[TXD_BITS-1:0];
    end else begin : g_raw_beats
        reg [TXD_BITS-1:0] acc_reg = {TXD_BITS{1'b0}};
        reg [TXD_BITS-1:0] r;
        always @* begin
            r = acc_reg;
            r[beat_reg*DATA_WIDTH +: DATA_WIDTH] = s_rd_rsp_data;
        end
        always @(posedge clk) begin
            if (fe_rsp) begin
                acc_reg <= r;
            end
        end
        assign raw_now = r;
    end
endgenerate

wire [63:0] n_addr = raw_now[`FT_TXD_ADDR_RANGE];
wire [31:0] n_len = raw_now[`FT_TXD_LEN_RANGE];
wire n_sop = raw_now[`FT_TXD_SOP_LSB];
wire n_eop = raw_now[`FT_TXD_EOP_LSB];
wire n_ip = raw_now[`FT_TXD_IP_CSUM_LSB];
wire [1:0] n_l4 = raw_now[`FT_TXD_L4_CSUM_RANGE];
wire n_tso = raw_now[`FT_TXD_TSO_LSB];
wire [15:0] n_mss = raw_now[`FT_TXD_MSS_RANGE];
wire [7:0] n_l2 = raw_now[`FT_TXD_L2_LEN_RANGE];
wire [15:0] n_l3 = raw_now[`FT_TXD_L3_LEN_RANGE];
wire [7:0] n_l4len = raw_now[`FT_TXD_L4_LEN_RANGE];
wire n_reserved = (raw_now & ~TXD_USED) != {TXD_BITS{1'b0}};
wire n_l4_bad = n_l4 != L4_NONE && n_l4 != L4_TCP && n_l4 != L4_UDP;
wire n_offload = n_ip || n_l4 != L4_NONE || n_tso || n_mss != 16'd0 || n_l2 != 8'd0
              || n_l3 != 16'd0 || n_l4len != 8'd0;
wire n_first = k_reg == {SG_W{1'b0}};
// C1 for descriptor k of the chain
wire n_c1 = n_reserved || n_l4_bad || (n_sop != n_first) || (!n_sop && n_offload);

// Ring IOVA of chain descriptor j
function [63:0] desc_iova(input [SG_W-1:0] j);
    reg [15:0] idx;
    begin
        idx = (cons_reg + {{(16-SG_W){1'b0}}, j}) & mask_reg;
        desc_iova = base_reg + {43'd0, idx, {TXD_SHIFT{1'b0}}};
    end
endfunction

wire [63:0] cur_addr = d_addr_reg[i_reg*64 +: 64];
wire [31:0] cur_len = d_len_reg[i_reg*32 +: 32];
wire [IDX_W-1:0] i_idx = i_reg[IDX_W-1:0];
wire cur_eop = d_eop_reg[i_idx];
wire cur_c1 = d_c1_reg[i_idx];
wire cur_is_last = i_reg == chain_reg - 1'b1;

// Data reads: at most CAP_LEN bytes in all; the read reaching it, or the chain's last, ends
// the frame.
wire [35:0] room_left = CAP_LEN - streamed_reg;
wire [35:0] cur_len36 = {4'd0, cur_len};
wire [35:0] rlen = (cur_len36 < room_left) ? cur_len36 : room_left;
wire r_eof = cur_is_last || (cur_len36 >= room_left);
wire [31:0] sum_len = (sum_reg[35:32] != 4'd0) ? 32'hFFFF_FFFF : sum_reg[31:0];
// The request's length once the last buffer's check passes.
wire [35:0] total = sum_reg + cur_len36;
wire [31:0] total_len = (total[35:32] != 4'd0) ? 32'hFFFF_FFFF : total[31:0];
wire [15:0] last_index = (cons_reg + {{(16-SG_W){1'b0}}, chain_reg} - 16'd1) & mask_reg;

// Outputs of the front end
reg rd_req_valid;
reg [63:0] rd_req_addr;
reg [31:0] rd_req_len;
reg [2:0] rd_req_tag;
reg rd_req_check;
reg cons_we;
reg [15:0] cons_val;
reg resv;
reg unresv;
reg start_pulse;
always @* begin
    rd_req_valid = 1'b0;
    rd_req_addr = 64'd0;
    rd_req_len = 32'd0;
    rd_req_tag = TAG_DESC;
    rd_req_check = 1'b0;
    cons_we = 1'b0;
    cons_val = cons_reg + {{(16-SG_W){1'b0}}, chain_reg};
    resv = start;
    unresv = 1'b0;
    start_pulse = 1'b0;
    meta_push = 1'b0;
    meta_in = {M_DATA, q_reg, cq_reg, code_reg, eaddr_reg, last_index, {{(8-SG_W){1'b0}}, chain_reg},
               sum_len, o_tso_reg};
    req_push = 1'b0;
    req_in = {sum_len, o_ip_reg, o_l4_reg, o_tso_reg, o_mss_reg, o_l2_reg, o_l3_reg, o_l4len_reg};
    case (front_reg)
        F_FETCH_REQ: begin
            rd_req_valid = 1'b1;
            rd_req_addr = desc_iova(k_reg);
            rd_req_len = `FT_TXD_SIZE;
            rd_req_tag = TAG_DESC;
        end
        F_FETCH_RSP: begin
            if (fe_rsp && s_rd_rsp_fault) begin
                // The ring cannot be read: the queue stops; nothing is consumed.
                meta_push = 1'b1;
                meta_in = {M_FAULT, q_reg, cq_reg, E_DMA_FAULT, s_rd_rsp_fault_addr, 16'd0,
                           8'd0, 32'd0, 1'b0};
                unresv = 1'b1;
                start_pulse = 1'b1;
            end else if (fe_rsp && s_rd_rsp_last && !n_eop && k_reg + 1'b1 >= scan_reg
                         && scan_reg < MAX_SG_S) begin
                // The producer does not cover the whole chain yet.
                unresv = 1'b1;
            end
        end
        F_PROBE_REQ: begin
            rd_req_valid = 1'b1;
            rd_req_addr = cur_addr;
            rd_req_len = cur_len;
            rd_req_tag = TAG_PROBE;
            rd_req_check = 1'b1;
        end
        F_PROBE_RSP: begin
            if (fe_rsp && !s_rd_rsp_fault && cur_is_last) begin
                // Every buffer is mapped: the request is taken (its data is read next).
                meta_push = 1'b1;
                meta_in = {M_DATA, q_reg, cq_reg, E_NONE, desc_iova({SG_W{1'b0}}), last_index,
                           {{(8-SG_W){1'b0}}, chain_reg}, total_len, o_tso_reg};
                req_push = 1'b1;
                req_in = {total_len, o_ip_reg, o_l4_reg, o_tso_reg, o_mss_reg, o_l2_reg, o_l3_reg,
                          o_l4len_reg};
                cons_we = 1'b1;
                start_pulse = 1'b1;
            end
        end
        F_COMMIT_ERR: begin
            meta_push = 1'b1;
            meta_in = {M_ERR, q_reg, cq_reg, code_reg, eaddr_reg, last_index,
                       {{(8-SG_W){1'b0}}, chain_reg}, sum_len, o_tso_reg};
            cons_we = 1'b1;
            start_pulse = 1'b1;
        end
        F_READ: begin
            rd_req_valid = 1'b1;
            rd_req_addr = cur_addr;
            rd_req_len = rlen[31:0];
            rd_req_tag = r_eof ? TAG_DATA_EOF : TAG_DATA;
        end
        default: begin
        end
    endcase
end

always @(posedge clk) begin
    wait_reg <= wait_reg & ~txq_doorbell;
    if (fault_stall_reg && !meta_valid) begin
        fault_stall_reg <= 1'b0;
    end
    if (txq_doorbell[q_reg]) begin
        rung_reg <= 1'b1;
    end
    case (front_reg)
        F_IDLE: begin
            if (start) begin
                q_reg <= pick;
                cq_reg <= txq_cq[pick*CQ_W +: CQ_W];
                base_reg <= txq_base[pick*64 +: 64];
                mask_reg <= (16'd1 << txq_log2[pick*5 +: 5]) - 16'd1;
                cons_reg <= txq_cons[pick*16 +: 16];
                scan_reg <= avail_scan(txq_prod[pick*16 +: 16] - txq_cons[pick*16 +: 16]);
                k_reg <= {SG_W{1'b0}};
                beat_reg <= {DB_W{1'b0}};
                rung_reg <= 1'b0;
                front_reg <= F_FETCH_REQ;
            end
        end
        F_FETCH_REQ: begin
            if (m_rd_req_ready) begin
                beat_reg <= {DB_W{1'b0}};
                front_reg <= F_FETCH_RSP;
            end
        end
        F_FETCH_RSP: begin
            if (fe_rsp) begin
                beat_reg <= beat_reg + 1'b1;
                if (s_rd_rsp_fault) begin
                    fault_stall_reg <= 1'b1;
                    rr_reg <= next_q(q_reg);
                    front_reg <= F_IDLE;
                end else if (s_rd_rsp_last) begin
                    d_addr_reg[k_reg*64 +: 64] <= n_addr;
                    d_len_reg[k_reg*32 +: 32] <= n_len;
                    d_eop_reg[k_reg[IDX_W-1:0]] <= n_eop;
                    d_c1_reg[k_reg[IDX_W-1:0]] <= n_c1;
                    if (n_first) begin
                        o_ip_reg <= n_ip;
                        o_l4_reg <= n_l4;
                        o_tso_reg <= n_tso;
                        o_mss_reg <= n_mss;
                        o_l2_reg <= n_l2;
                        o_l3_reg <= n_l3;
                        o_l4len_reg <= n_l4len;
                    end
                    if (n_eop && n_first) begin
                        // A chain of one descriptor: its C1-C3 checks right away.
                        chain_reg <= k_reg + 1'b1;
                        i_reg <= {SG_W{1'b0}};
                        sum_reg <= 36'd0;
                        eaddr_reg <= desc_iova({SG_W{1'b0}});
                        if (n_c1) begin
                            code_reg <= E_BAD_FLAGS;
                            front_reg <= F_COMMIT_ERR;
                        end else if (n_len == 32'd0) begin
                            code_reg <= E_BAD_LENGTH;
                            front_reg <= F_COMMIT_ERR;
                        end else begin
                            front_reg <= F_PROBE_REQ;
                        end
                    end else if (n_eop) begin
                        chain_reg <= k_reg + 1'b1;
                        i_reg <= {SG_W{1'b0}};
                        sum_reg <= 36'd0;
                        front_reg <= F_CHECK;
                    end else if (k_reg + 1'b1 < scan_reg) begin
                        k_reg <= k_reg + 1'b1;
                        front_reg <= F_FETCH_REQ;
                    end else if (scan_reg < MAX_SG_S) begin
                        // Wait for the next doorbell, unless one came while fetching.
                        wait_reg[q_reg] <= !(rung_reg || txq_doorbell[q_reg]);
                        front_reg <= F_IDLE;
                    end else begin
                        chain_reg <= scan_reg;
                        i_reg <= {SG_W{1'b0}};
                        sum_reg <= 36'd0;
                        front_reg <= F_CHECK;
                    end
                end
            end
        end
        F_CHECK: begin
            eaddr_reg <= desc_iova(i_reg);
            if (cur_c1) begin
                code_reg <= E_BAD_FLAGS;
                front_reg <= F_COMMIT_ERR;
            end else if (cur_len == 32'd0) begin
                code_reg <= E_BAD_LENGTH;
                front_reg <= F_COMMIT_ERR;
            end else if (cur_is_last && !cur_eop) begin
                code_reg <= E_SG_TOO_LONG;
                front_reg <= F_COMMIT_ERR;
            end else begin
                front_reg <= F_PROBE_REQ;
            end
        end
        F_PROBE_REQ: begin
            if (m_rd_req_ready) begin
                front_reg <= F_PROBE_RSP;
            end
        end
        F_PROBE_RSP: begin
            if (fe_rsp) begin
                if (s_rd_rsp_fault) begin
                    code_reg <= E_DMA_FAULT;
                    eaddr_reg <= s_rd_rsp_fault_addr;
                    front_reg <= F_COMMIT_ERR;
                end else if (cur_is_last) begin
                    // Taken in this cycle (see the outputs above): read the buffers.
                    sum_reg <= total;
                    rr_reg <= next_q(q_reg);
                    i_reg <= {SG_W{1'b0}};
                    streamed_reg <= 36'd0;
                    front_reg <= F_READ;
                end else begin
                    sum_reg <= total;
                    i_reg <= i_reg + 1'b1;
                    front_reg <= F_CHECK;
                end
            end
        end
        F_COMMIT_ERR: begin
            rr_reg <= next_q(q_reg);
            front_reg <= F_IDLE;
        end
        F_READ: begin
            if (m_rd_req_ready) begin
                streamed_reg <= streamed_reg + rlen;
                i_reg <= i_reg + 1'b1;
                if (r_eof) begin
                    front_reg <= F_IDLE;
                end
            end
        end
        default: front_reg <= F_IDLE;
    endcase
    if (rst) begin
        front_reg <= F_IDLE;
        rr_reg <= {TXQ_W{1'b0}};
        wait_reg <= {TX_QUEUES{1'b0}};
        fault_stall_reg <= 1'b0;
    end
end

function [SG_W-1:0] avail_scan(input [15:0] avail);
    begin
        avail_scan = (avail < MAX_SG_16) ? avail[SG_W-1:0] : MAX_SG_S;
    end
endfunction

function [TXQ_W-1:0] next_q(input [TXQ_W-1:0] q);
    begin
        next_q = ({{(32-TXQ_W){1'b0}}, q} == TX_QUEUES - 1) ? {TXQ_W{1'b0}} : q + 1'b1;
    end
endfunction

// ---------------------------------------------------------------- data path

wire data_rsp = s_rd_rsp_tag == TAG_DATA || s_rd_rsp_tag == TAG_DATA_EOF;
wire g_ready;
wire [DATA_WIDTH-1:0] g_tdata;
wire [KEEP_WIDTH-1:0] g_tkeep;
wire g_tvalid;
wire g_tready;
wire g_tlast;
wire g_busy;

ft_gather #(
    .DATA_WIDTH(DATA_WIDTH)
) u_gather (
    .clk(clk),
    .rst(rst),
    .s_tdata(s_rd_rsp_data),
    .s_tkeep(s_rd_rsp_keep),
    .s_tvalid(s_rd_rsp_valid && data_rsp),
    .s_tready(g_ready),
    .s_teof(s_rd_rsp_last && s_rd_rsp_tag == TAG_DATA_EOF),
    .m_tdata(g_tdata),
    .m_tkeep(g_tkeep),
    .m_tvalid(g_tvalid),
    .m_tready(g_tready),
    .m_tlast(g_tlast),
    .busy(g_busy)
);

assign s_rd_rsp_ready = data_rsp ? g_ready : fe_rsp;

wire [31:0] q_len;
wire q_ip;
wire [1:0] q_l4;
wire q_tso;
wire [15:0] q_mss;
wire [7:0] q_l2;
wire [15:0] q_l3;
wire [7:0] q_l4len;
assign {q_len, q_ip, q_l4, q_tso, q_mss, q_l2, q_l3, q_l4len} = req_out;
wire e_ready;
assign g_tready = e_ready && req_valid;
assign req_pop = g_tvalid && g_tready && g_tlast;

wire st_ev_valid;
wire st_ev_ready;
wire [`FT_ERROR_CODE_WIDTH-1:0] st_ev_error;
wire [SEG_W-1:0] st_ev_segments;
wire st_ev_checksummed;
wire [15:0] st_ev_header_len;
wire [31:0] st_ev_payload_len;

localparam [31:0] CAPS_W = CAPS;
localparam [31:0] MAX_FRAME_32 = MAX_FRAME_LEN;
localparam [31:0] MIN_MSS_32 = MIN_MSS;
localparam [31:0] MAX_MSS_32 = MAX_MSS;
localparam [15:0] MAX_FRAME_W = MAX_FRAME_32[15:0];
localparam [15:0] MIN_MSS_W = MIN_MSS_32[15:0];
localparam [15:0] MAX_MSS_W = MAX_MSS_32[15:0];
localparam [31:0] MAX_TSO_W = MAX_TSO_PAYLOAD;

ft_tx_engine #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_FRAME_LEN(MAX_FRAME_LEN),
    .MAX_TSO_PAYLOAD(MAX_TSO_PAYLOAD)
) u_engine (
    .clk(clk),
    .rst(rst),
    .cfg_cap_tx_ipv4_csum(CAPS_W[`FT_IDENT_CAPS_TX_IPV4_CSUM_LSB]),
    .cfg_cap_tx_tcp_csum(CAPS_W[`FT_IDENT_CAPS_TX_TCP_CSUM_LSB]),
    .cfg_cap_tx_udp_csum(CAPS_W[`FT_IDENT_CAPS_TX_UDP_CSUM_LSB]),
    .cfg_cap_tso(CAPS_W[`FT_IDENT_CAPS_TSO_LSB]),
    .cfg_max_frame_len(MAX_FRAME_W),
    .cfg_min_mss(MIN_MSS_W),
    .cfg_max_mss(MAX_MSS_W),
    .cfg_max_tso_payload(MAX_TSO_W),
    .cfg_tso_flags_first(tso_flags_first),
    .cfg_tso_flags_middle(tso_flags_middle),
    .cfg_tso_flags_last(tso_flags_last),
    .s_axis_tdata(g_tdata),
    .s_axis_tkeep(g_tkeep),
    .s_axis_tvalid(g_tvalid && req_valid),
    .s_axis_tready(e_ready),
    .s_axis_tlast(g_tlast),
    .s_axis_req_len(q_len),
    .s_axis_req_ip_csum(q_ip),
    .s_axis_req_l4_csum(q_l4),
    .s_axis_req_tso(q_tso),
    .s_axis_req_mss(q_mss),
    .s_axis_req_l2_len(q_l2),
    .s_axis_req_l3_len(q_l3),
    .s_axis_req_l4_len(q_l4len),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast),
    .m_axis_status_valid(st_ev_valid),
    .m_axis_status_ready(st_ev_ready),
    .m_axis_status_error(st_ev_error),
    .m_axis_status_segments(st_ev_segments),
    .m_axis_status_checksummed(st_ev_checksummed),
    .m_axis_status_header_len(st_ev_header_len),
    .m_axis_status_payload_len(st_ev_payload_len)
);

// Wire frames that left and are not yet accounted to a completed request.
reg [16:0] sent_reg = 17'd0;
wire frame_out = m_axis_tvalid && m_axis_tready && m_axis_tlast;

// ---------------------------------------------------------------- completion stage

localparam [2:0] C_IDLE = 3'd0;
localparam [2:0] C_STATUS = 3'd1;
localparam [2:0] C_ERR = 3'd2;
localparam [2:0] C_FRAMES = 3'd3;
localparam [2:0] C_CPL = 3'd4;
localparam [2:0] C_FIN = 3'd5;

wire [1:0] m_kind;
wire [TXQ_W-1:0] m_q;
wire [CQ_W-1:0] m_cq;
wire [7:0] m_code;
wire [63:0] m_addr;
wire [15:0] m_index;
wire [7:0] m_dcount;
wire [31:0] m_len;
wire m_tso;
assign {m_kind, m_q, m_cq, m_code, m_addr, m_index, m_dcount, m_len, m_tso} = meta_out;

reg [2:0] cs_reg = C_IDLE;
reg [7:0] c_code_reg = 8'd0;
reg [SEG_W-1:0] c_segs_reg = {SEG_W{1'b0}};
reg c_csum_reg = 1'b0;
reg [15:0] c_hlen_reg = 16'd0;
reg [31:0] c_plen_reg = 32'd0;

wire c_fault = m_kind == M_FAULT;
wire [16:0] segs17 = {{(17-SEG_W){1'b0}}, c_segs_reg};
wire frames_there = sent_reg >= segs17;

reg [`FT_CPL_BITS-1:0] entry;
always @* begin
    entry = {`FT_CPL_BITS{1'b0}};
    entry[`FT_CPL_QUEUE_RANGE] = {{(16-TXQ_W){1'b0}}, m_q};
    entry[`FT_CPL_INDEX_RANGE] = m_index;
    entry[`FT_CPL_LEN_RANGE] = m_len;
    entry[`FT_CPL_SEGMENTS_RANGE] = (c_code_reg == E_NONE) ? c_segs_reg : {SEG_W{1'b0}};
    entry[`FT_CPL_DESC_COUNT_RANGE] = m_dcount;
    entry[`FT_CPL_ERROR_RANGE] = c_code_reg;
end

always @(posedge clk) begin
    sent_reg <= sent_reg + {16'd0, frame_out}
              - ((cs_reg == C_FRAMES && frames_there) ? segs17 : 17'd0);
    case (cs_reg)
        C_IDLE: begin
            if (meta_valid) begin
                c_segs_reg <= {SEG_W{1'b0}};
                c_csum_reg <= 1'b0;
                c_hlen_reg <= 16'd0;
                c_plen_reg <= 32'd0;
                if (m_kind == M_DATA) begin
                    cs_reg <= C_STATUS;
                end else begin
                    c_code_reg <= m_code;
                    cs_reg <= C_ERR;
                end
            end
        end
        C_STATUS: begin
            if (st_ev_valid) begin
                c_code_reg <= st_ev_error;
                c_segs_reg <= st_ev_segments;
                c_csum_reg <= st_ev_checksummed;
                c_hlen_reg <= st_ev_header_len;
                c_plen_reg <= st_ev_payload_len;
                cs_reg <= (st_ev_error != E_NONE) ? C_ERR : C_FRAMES;
            end
        end
        C_ERR: begin
            if (err_ready) begin
                cs_reg <= c_fault ? C_IDLE : C_CPL;
            end
        end
        C_FRAMES: begin
            if (frames_there) begin
                cs_reg <= C_CPL;
            end
        end
        C_CPL: begin
            if (cpl_ready) begin
                cs_reg <= C_FIN;
            end
        end
        C_FIN: begin
            cs_reg <= C_IDLE;
        end
        default: cs_reg <= C_IDLE;
    endcase
    if (rst) begin
        cs_reg <= C_IDLE;
        sent_reg <= 17'd0;
    end
end

always @* begin
    meta_pop = (cs_reg == C_FIN) || (cs_reg == C_ERR && err_ready && c_fault);
end
assign st_ev_ready = cs_reg == C_STATUS;

// The error address of an F-rule failure is the ring IOVA of the chain's first descriptor,
// recorded in the entry when the request started.
wire [31:0] tso_bytes = c_segs_reg * c_hlen_reg + c_plen_reg;

// ---------------------------------------------------------------- outputs

assign m_rd_req_valid = rd_req_valid;
assign m_rd_req_addr = rd_req_addr;
assign m_rd_req_len = rd_req_len;
assign m_rd_req_tag = rd_req_tag;
assign m_rd_req_check = rd_req_check;

assign txq_cons_we = cons_we;
assign txq_cons_q = q_reg;
assign txq_cons_val = cons_val;

assign resv_valid = resv;
assign resv_cq = txq_cq[pick*CQ_W +: CQ_W];
assign unresv_valid = unresv;
assign unresv_cq = cq_reg;

assign cpl_valid = cs_reg == C_CPL;
assign cpl_cq = m_cq;
assign cpl_entry = entry;

assign err_valid = cs_reg == C_ERR;
assign err_code = c_code_reg;
assign err_queue = {{(16-TXQ_W){1'b0}}, m_q};
assign err_addr = m_addr;
assign err_stop = c_fault;

assign st_valid = cs_reg == C_FIN;
assign st_q = m_q;
assign st_error = c_code_reg != E_NONE;
assign st_frames = c_segs_reg;
assign st_bytes = m_tso ? tso_bytes : m_len;
assign st_csum_frames = c_csum_reg ? c_segs_reg : {SEG_W{1'b0}};
assign st_tso_frames = m_tso ? c_segs_reg : {SEG_W{1'b0}};

assign req_start = start_pulse;
assign req_done = meta_pop;
assign idle = front_reg == F_IDLE && !start && !meta_valid && !fault_stall_reg && !g_busy;
assign work = ctrl_enable && elig != {TX_QUEUES{1'b0}};

endmodule

`resetall
