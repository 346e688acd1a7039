// ft_rxq: the RX queue engine: frame store, classification, steering, the receive rules,
// buffer writes, completions and RX statistics (hw-spec SPEC.md 7).
//
// Owns, per received frame, in arrival order:
//
//   s_axis -> frame store (two maximum frames) -----------------> DMA write of the frame
//         \-> ft_rx_csum (checksums, RSS input and hash) -> decision -> completion, counters
//
// - Ingress takes a frame only when the store has room for a maximum frame, so a frame once
//   started is taken at one beat per cycle; bytes beyond MAX_FRAME_LEN are not stored (such a
//   frame is dropped). s_axis_tuser on the last beat marks a frame the MAC truncated (longer
//   than it can hold): it is dropped and counted on RX queue 0, unclassified.
// - The decision applies SPEC 7 in order, the first rule that applies settles the frame:
//   device disabled (RX_DROPS_NO_QUEUE); steering (RSS_TABLE[hash mod 128] when RSS is enabled
//   and the frame has RSS input, queue 0 when that queue does not exist or otherwise); queue
//   disabled (RX_DROPS_NO_QUEUE); longer than MAX_FRAME_LEN (DROPS); no posted buffer, or the
//   CQ disabled or full (DROPS; the CQ slot is reserved at ft_cpl before the descriptor is
//   fetched); descriptor fetch fault (the queue stops, DROPS); reserved bits (error completion
//   BAD_FLAGS, ERRORS); buffer too small (DROPS, the buffer stays posted); buffer write fault
//   (error completion DMA_FAULT, ERRORS); otherwise delivered (FRAMES, BYTES, CSUM_GOOD/BAD).
// - The frame's bytes are written to the buffer in one DMA write, read from the store with a
//   registered read (block RAM friendly); frames that are not delivered are skipped in it.
//
// Ingress and the decision overlap: the next frame enters the store while one is written out.
// Must not: touch registers directly (consumer pointer, error and statistics ports only), or
// write completions itself.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_rxq #(
    parameter DATA_WIDTH = 512,
    parameter RX_QUEUES = 4,
    parameter CQ_COUNT = 8,
    parameter MAX_FRAME_LEN = 9216,
    // Derived, do not override.
    parameter RXQ_W = RX_QUEUES > 1 ? $clog2(RX_QUEUES) : 1,
    parameter CQ_W = CQ_COUNT > 1 ? $clog2(CQ_COUNT) : 1,
    parameter KEEP_WIDTH = DATA_WIDTH / 8,
    // Derived, do not override: descriptor read data bits used (a descriptor is 128 bits).
    parameter RD_W = DATA_WIDTH < `FT_RXD_BITS ? DATA_WIDTH : `FT_RXD_BITS
) (
    input  wire                                    clk,
    input  wire                                    rst,

    input  wire                                    ctrl_enable,
    input  wire                                    ctrl_rx_csum,
    input  wire                                    ctrl_rss,
    input  wire [`FT_RSS_KEY_WORDS*32-1:0]         rss_key,
    input  wire [`FT_RSS_TABLE_ENTRIES*8-1:0]      rss_table,

    // RX queue state (ft_regs)
    input  wire [RX_QUEUES*64-1:0]                 rxq_base,
    input  wire [RX_QUEUES*5-1:0]                  rxq_log2,
    input  wire [RX_QUEUES-1:0]                    rxq_enabled,
    input  wire [RX_QUEUES*CQ_W-1:0]               rxq_cq,
    input  wire [RX_QUEUES*16-1:0]                 rxq_prod,
    input  wire [RX_QUEUES*16-1:0]                 rxq_cons,
    output wire                                    rxq_cons_we,
    output wire [RXQ_W-1:0]                        rxq_cons_q,
    output wire [15:0]                             rxq_cons_val,

    // Completion queue reservations (ft_cpl)
    output wire                                    resv_valid,
    output wire [CQ_W-1:0]                         resv_cq,
    input  wire                                    resv_ok,
    output wire                                    unresv_valid,
    output wire [CQ_W-1:0]                         unresv_cq,

    // DMA read client (descriptors)
    output wire                                    m_rd_req_valid,
    input  wire                                    m_rd_req_ready,
    output wire [63:0]                             m_rd_req_addr,
    output wire [31:0]                             m_rd_req_len,
    output wire [2:0]                              m_rd_req_tag,
    output wire                                    m_rd_req_check,
    input  wire                                    s_rd_rsp_valid,
    output wire                                    s_rd_rsp_ready,
    input  wire [RD_W-1:0]                         s_rd_rsp_data,
    input  wire                                    s_rd_rsp_last,
    input  wire                                    s_rd_rsp_fault,
    input  wire [63:0]                             s_rd_rsp_fault_addr,

    // DMA write client (frame data)
    output wire                                    m_wr_req_valid,
    input  wire                                    m_wr_req_ready,
    output wire [63:0]                             m_wr_req_addr,
    output wire [31:0]                             m_wr_req_len,
    output wire [DATA_WIDTH-1:0]                   m_wr_data,
    output wire [KEEP_WIDTH-1:0]                   m_wr_keep,
    output wire                                    m_wr_valid,
    input  wire                                    m_wr_ready,
    output wire                                    m_wr_last,
    input  wire                                    s_wr_rsp_valid,
    output wire                                    s_wr_rsp_ready,
    input  wire                                    s_wr_rsp_fault,
    input  wire [63:0]                             s_wr_rsp_fault_addr,

    // Wire
    input  wire [DATA_WIDTH-1:0]                   s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_axis_tkeep,
    input  wire                                    s_axis_tvalid,
    output wire                                    s_axis_tready,
    input  wire                                    s_axis_tlast,
    input  wire                                    s_axis_tuser,

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

    // Statistics (ft_stats): outcome 0 delivered, 1 dropped, 2 no queue, 3 error completion
    output wire                                    st_valid,
    output wire [RXQ_W-1:0]                        st_q,
    output wire [1:0]                              st_outcome,
    output wire [31:0]                             st_bytes,
    output wire                                    st_csum_good,
    output wire                                    st_csum_bad,

    output wire                                    idle
);

localparam LANE_BITS = $clog2(KEEP_WIDTH);
localparam MAX_BEATS = (MAX_FRAME_LEN + KEEP_WIDTH - 1) / KEEP_WIDTH;
localparam PTR_W = $clog2(2 * MAX_BEATS);
localparam STORE_BEATS = 1 << PTR_W;
localparam FB_W = $clog2(MAX_BEATS + 1);
localparam RXD_BITS = `FT_RXD_BITS;
localparam RXD_SHIFT = $clog2(`FT_RXD_SIZE);
localparam DESC_BEATS = DATA_WIDTH >= RXD_BITS ? 1 : RXD_BITS / DATA_WIDTH;
localparam DB_W = DESC_BEATS > 1 ? $clog2(DESC_BEATS) : 1;
localparam [31:0] MAX_FRAME_32 = MAX_FRAME_LEN;
localparam [31:0] MAX_BEATS_32 = MAX_BEATS;
localparam [PTR_W:0] MAX_BEATS_P = MAX_BEATS_32[PTR_W:0];
localparam [FB_W-1:0] MAX_BEATS_F = MAX_BEATS_32[FB_W-1:0];
localparam [PTR_W:0] STORE_BEATS_P = STORE_BEATS;

localparam [1:0] O_DELIVERED = 2'd0;
localparam [1:0] O_DROPPED = 2'd1;
localparam [1:0] O_NO_QUEUE = 2'd2;
localparam [1:0] O_ERROR = 2'd3;

localparam [7:0] E_NONE = `FT_ERROR_CODE_NONE;
localparam [7:0] E_DMA_FAULT = `FT_ERROR_CODE_DMA_FAULT;
localparam [7:0] E_BAD_FLAGS = `FT_ERROR_CODE_BAD_FLAGS;
localparam [1:0] CS_GOOD = `FT_CSUM_STATUS_GOOD;
localparam [1:0] CS_BAD = `FT_CSUM_STATUS_BAD;
localparam [1:0] CS_NONE = `FT_CSUM_STATUS_NONE;
localparam [1:0] RSS_NONE = `FT_RSS_TYPE_NONE;

// Bits of an RX descriptor that belong to a field; the rest are reserved.
function [RXD_BITS-1:0] field(input integer lsb, input integer width);
    begin
        field = (({RXD_BITS{1'b0}} | ((128'd1 << width) - 128'd1)) << lsb);
    end
endfunction
localparam [RXD_BITS-1:0] RXD_USED = field(`FT_RXD_ADDR_LSB, `FT_RXD_ADDR_WIDTH)
                                   | field(`FT_RXD_LEN_LSB, `FT_RXD_LEN_WIDTH);

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (MAX_FRAME_LEN < 60 || MAX_FRAME_LEN > 65535) begin
        $display("Error: MAX_FRAME_LEN must be 60..65535 (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------- ingress

reg [DATA_WIDTH-1:0] store [0:STORE_BEATS-1];
reg [PTR_W:0] wr_ptr_reg = {(PTR_W+1){1'b0}};
reg [PTR_W:0] base_ptr_reg = {(PTR_W+1){1'b0}};   // start of the oldest frame not yet settled
reg in_frame_reg = 1'b0;
reg [31:0] ilen_reg = 32'd0;
reg [FB_W-1:0] ibeats_reg = {FB_W{1'b0}};

localparam INFO_W = 32 + FB_W + 1;
wire info_in_ready;
wire [INFO_W-1:0] info_out;
wire info_valid;
reg info_pop;
// The count is not needed: ingress checks for room before a frame starts.
/* verilator lint_off UNUSEDSIGNAL */
wire [2:0] info_count;
/* verilator lint_on UNUSEDSIGNAL */

wire [PTR_W:0] used_beats = wr_ptr_reg - base_ptr_reg;
wire [PTR_W:0] free_beats = STORE_BEATS_P - used_beats;
wire ingress_ok = in_frame_reg || (free_beats >= MAX_BEATS_P && info_in_ready);
wire csum_ready;
wire beat_fire = s_axis_tvalid && ingress_ok && csum_ready;

reg [LANE_BITS:0] n;
integer l;
always @* begin
    n = {(LANE_BITS+1){1'b0}};
    for (l = 0; l < KEEP_WIDTH; l = l + 1) begin
        n = n + {{LANE_BITS{1'b0}}, s_axis_tkeep[l]};
    end
end
wire [31:0] len_now = ilen_reg + {{(31-LANE_BITS){1'b0}}, n};
wire [31:0] len_sat = (len_now < ilen_reg) ? 32'hFFFF_FFFF : len_now;
wire store_beat = ibeats_reg < MAX_BEATS_F;
wire [FB_W-1:0] beats_now = ibeats_reg + {{(FB_W-1){1'b0}}, store_beat};

ft_fifo #(
    .WIDTH(INFO_W),
    .ADDR_WIDTH(2)
) u_info (
    .clk(clk),
    .rst(rst),
    .s_data({len_sat, beats_now, s_axis_tuser}),
    .s_valid(beat_fire && s_axis_tlast),
    .s_ready(info_in_ready),
    .m_data(info_out),
    .m_valid(info_valid),
    .m_ready(info_pop),
    .count(info_count)
);

always @(posedge clk) begin
    if (beat_fire) begin
        if (store_beat) begin
            store[wr_ptr_reg[PTR_W-1:0]] <= s_axis_tdata;
            wr_ptr_reg <= wr_ptr_reg + 1'b1;
        end
        if (s_axis_tlast) begin
            in_frame_reg <= 1'b0;
            ilen_reg <= 32'd0;
            ibeats_reg <= {FB_W{1'b0}};
        end else begin
            in_frame_reg <= 1'b1;
            ilen_reg <= len_sat;
            ibeats_reg <= beats_now;
        end
    end
    if (rst) begin
        wr_ptr_reg <= {(PTR_W+1){1'b0}};
        in_frame_reg <= 1'b0;
        ilen_reg <= 32'd0;
        ibeats_reg <= {FB_W{1'b0}};
    end
end

// ---------------------------------------------------------------- classification

wire st_c_valid;
reg st_c_pop;
wire [1:0] c_ip;
wire [1:0] c_l4;
wire [1:0] c_rss_type;
wire [31:0] c_hash;
// The RSS input bytes and the engine's 16-bit length are not needed: the hash is computed
// there, and the length is counted here (frames may exceed 16 bits before the MAC truncates).
/* verilator lint_off UNUSEDSIGNAL */
wire [95:0] c_rss_input;
wire [15:0] c_len;
/* verilator lint_on UNUSEDSIGNAL */

ft_rx_csum #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_FRAME_LEN(MAX_FRAME_LEN)
) u_csum (
    .clk(clk),
    .rst(rst),
    .cfg_csum_enable(ctrl_rx_csum),
    .cfg_rss_key(rss_key),
    .s_axis_tdata(s_axis_tdata),
    .s_axis_tkeep(s_axis_tkeep),
    .s_axis_tvalid(s_axis_tvalid && ingress_ok),
    .s_axis_tready(csum_ready),
    .s_axis_tlast(s_axis_tlast),
    .m_status_valid(st_c_valid),
    .m_status_ready(st_c_pop),
    .m_status_ip_csum(c_ip),
    .m_status_l4_csum(c_l4),
    .m_status_rss_type(c_rss_type),
    .m_status_rss_input(c_rss_input),
    .m_status_rss_hash(c_hash),
    .m_status_len(c_len)
);

// ---------------------------------------------------------------- decision

localparam [3:0] R_IDLE = 4'd0;
localparam [3:0] R_DECIDE = 4'd1;
localparam [3:0] R_RESV = 4'd2;
localparam [3:0] R_FETCH_REQ = 4'd3;
localparam [3:0] R_FETCH_RSP = 4'd4;
localparam [3:0] R_STOP = 4'd5;
localparam [3:0] R_WR_REQ = 4'd6;
localparam [3:0] R_WR_DATA = 4'd7;
localparam [3:0] R_WR_RSP = 4'd8;
localparam [3:0] R_ERR = 4'd9;
localparam [3:0] R_CONS = 4'd10;
localparam [3:0] R_CPL = 4'd11;
localparam [3:0] R_DONE = 4'd12;

reg [3:0] state_reg = R_IDLE;
reg [31:0] f_len_reg = 32'd0;
reg [FB_W-1:0] f_beats_reg = {FB_W{1'b0}};
reg f_trunc_reg = 1'b0;
reg [1:0] f_ip_reg = 2'd0;
reg [1:0] f_l4_reg = 2'd0;
reg [1:0] f_rss_type_reg = 2'd0;
reg [31:0] f_hash_reg = 32'd0;

reg [RXQ_W-1:0] q_reg = {RXQ_W{1'b0}};
reg [CQ_W-1:0] cq_reg = {CQ_W{1'b0}};
reg [63:0] desc_addr_reg = 64'd0;
reg [15:0] index_reg = 16'd0;
reg [15:0] cons_reg = 16'd0;
reg steered_reg = 1'b0;
reg [1:0] outcome_reg = O_DROPPED;
reg [7:0] code_reg = 8'd0;
reg [63:0] eaddr_reg = 64'd0;
reg [63:0] buf_addr_reg = 64'd0;
reg [DB_W-1:0] dbeat_reg = {DB_W{1'b0}};

// Steering of the frame being decided
wire steer = ctrl_rss && f_rss_type_reg != RSS_NONE;
wire [7:0] entry8 = rss_table[f_hash_reg[6:0]*8 +: 8];
wire [RXQ_W-1:0] steer_q = ({24'd0, entry8} < RX_QUEUES) ? entry8[RXQ_W-1:0] : {RXQ_W{1'b0}};
wire [RXQ_W-1:0] d_q = (steer && !f_trunc_reg) ? steer_q : {RXQ_W{1'b0}};
wire [15:0] d_prod = rxq_prod[d_q*16 +: 16];
wire [15:0] d_cons = rxq_cons[d_q*16 +: 16];
wire [15:0] d_mask = (16'd1 << rxq_log2[d_q*5 +: 5]) - 16'd1;
wire [15:0] d_index = d_cons & d_mask;

// The descriptor arriving
wire rsp_here = s_rd_rsp_valid && state_reg == R_FETCH_RSP;
wire [RXD_BITS-1:0] raw_now;
generate
    if (DATA_WIDTH >= RXD_BITS) begin : g_raw_one
        assign raw_now = s_rd_rsp_data;
    end else begin : g_raw_beats
        reg [RXD_BITS-1:0] acc_reg = {RXD_BITS{1'b0}};
        reg [RXD_BITS-1:0] r;
        always @* begin
            r = acc_reg;
            r[dbeat_reg*RD_W +: RD_W] = s_rd_rsp_data;
        end
        always @(posedge clk) begin
            if (rsp_here) begin
                acc_reg <= r;
            end
        end
        assign raw_now = r;
    end
endgenerate
wire [63:0] n_addr = raw_now[`FT_RXD_ADDR_RANGE];
wire [31:0] n_len = raw_now[`FT_RXD_LEN_RANGE];
wire n_reserved = (raw_now & ~RXD_USED) != {RXD_BITS{1'b0}};

// Reading the frame out of the store (registered read)
reg [PTR_W-1:0] rptr_reg = {PTR_W{1'b0}};
reg [FB_W-1:0] rleft_reg = {FB_W{1'b0}};
reg out_valid_reg = 1'b0;
reg out_last_reg = 1'b0;
reg [DATA_WIDTH-1:0] out_data_reg = {DATA_WIDTH{1'b0}};
wire out_fire = out_valid_reg && m_wr_ready;
wire load = state_reg == R_WR_DATA && rleft_reg != {FB_W{1'b0}} && (!out_valid_reg || m_wr_ready);

wire [LANE_BITS-1:0] tail_bytes = f_len_reg[LANE_BITS-1:0];
reg [KEEP_WIDTH-1:0] last_keep;
integer k;
always @* begin
    for (k = 0; k < KEEP_WIDTH; k = k + 1) begin
        last_keep[k] = (tail_bytes == {LANE_BITS{1'b0}}) || (k < tail_bytes);
    end
end

wire bad = f_ip_reg == CS_BAD || f_l4_reg == CS_BAD;
wire good = !bad && (f_ip_reg == CS_GOOD || f_l4_reg == CS_GOOD)
         && (f_ip_reg == CS_GOOD || f_ip_reg == CS_NONE)
         && (f_l4_reg == CS_GOOD || f_l4_reg == CS_NONE);

always @(posedge clk) begin
    case (state_reg)
        R_IDLE: begin
            if (info_valid && st_c_valid) begin
                {f_len_reg, f_beats_reg, f_trunc_reg} <= info_out;
                f_ip_reg <= c_ip;
                f_l4_reg <= c_l4;
                f_rss_type_reg <= c_rss_type;
                f_hash_reg <= c_hash;
                state_reg <= R_DECIDE;
            end
        end
        R_DECIDE: begin
            q_reg <= d_q;
            cq_reg <= rxq_cq[d_q*CQ_W +: CQ_W];
            desc_addr_reg <= rxq_base[d_q*64 +: 64] + {44'd0, d_index, {RXD_SHIFT{1'b0}}};
            index_reg <= d_index;
            cons_reg <= d_cons;
            steered_reg <= steer;
            outcome_reg <= O_DROPPED;
            code_reg <= E_NONE;
            if (!ctrl_enable) begin
                outcome_reg <= O_NO_QUEUE;
                state_reg <= R_DONE;
            end else if (f_trunc_reg) begin
                state_reg <= R_DONE;
            end else if (!rxq_enabled[d_q]) begin
                outcome_reg <= O_NO_QUEUE;
                state_reg <= R_DONE;
            end else if (f_len_reg > MAX_FRAME_32 || d_prod == d_cons) begin
                state_reg <= R_DONE;
            end else begin
                state_reg <= R_RESV;
            end
        end
        R_RESV: begin
            state_reg <= resv_ok ? R_FETCH_REQ : R_DONE;
        end
        R_FETCH_REQ: begin
            if (m_rd_req_ready) begin
                dbeat_reg <= {DB_W{1'b0}};
                state_reg <= R_FETCH_RSP;
            end
        end
        R_FETCH_RSP: begin
            if (rsp_here) begin
                dbeat_reg <= dbeat_reg + 1'b1;
                if (s_rd_rsp_fault) begin
                    // The ring cannot be read: the queue stops, the frame is dropped.
                    code_reg <= E_DMA_FAULT;
                    eaddr_reg <= s_rd_rsp_fault_addr;
                    state_reg <= R_STOP;
                end else if (s_rd_rsp_last) begin
                    if (n_reserved) begin
                        code_reg <= E_BAD_FLAGS;
                        eaddr_reg <= desc_addr_reg;
                        outcome_reg <= O_ERROR;
                        state_reg <= R_ERR;
                    end else if (n_len < f_len_reg) begin
                        state_reg <= R_DONE;
                    end else begin
                        buf_addr_reg <= n_addr;
                        state_reg <= R_WR_REQ;
                    end
                end
            end
        end
        R_STOP: begin
            if (err_ready) begin
                state_reg <= R_DONE;
            end
        end
        R_WR_REQ: begin
            if (m_wr_req_ready) begin
                rptr_reg <= base_ptr_reg[PTR_W-1:0];
                rleft_reg <= f_beats_reg;
                state_reg <= R_WR_DATA;
            end
        end
        R_WR_DATA: begin
            if (out_fire && out_last_reg) begin
                state_reg <= R_WR_RSP;
            end
        end
        R_WR_RSP: begin
            if (s_wr_rsp_valid) begin
                if (s_wr_rsp_fault) begin
                    code_reg <= E_DMA_FAULT;
                    eaddr_reg <= s_wr_rsp_fault_addr;
                    outcome_reg <= O_ERROR;
                    state_reg <= R_ERR;
                end else begin
                    outcome_reg <= O_DELIVERED;
                    state_reg <= R_CONS;
                end
            end
        end
        R_ERR: begin
            if (err_ready) begin
                state_reg <= R_CONS;
            end
        end
        R_CONS: begin
            state_reg <= R_CPL;
        end
        R_CPL: begin
            if (cpl_ready) begin
                state_reg <= R_DONE;
            end
        end
        R_DONE: begin
            base_ptr_reg <= base_ptr_reg + {{(PTR_W+1-FB_W){1'b0}}, f_beats_reg};
            state_reg <= R_IDLE;
        end
        default: state_reg <= R_IDLE;
    endcase

    if (load) begin
        out_data_reg <= store[rptr_reg];
        out_last_reg <= rleft_reg == {{(FB_W-1){1'b0}}, 1'b1};
        out_valid_reg <= 1'b1;
        rptr_reg <= rptr_reg + 1'b1;
        rleft_reg <= rleft_reg - 1'b1;
    end else if (out_fire) begin
        out_valid_reg <= 1'b0;
    end

    if (rst) begin
        state_reg <= R_IDLE;
        base_ptr_reg <= {(PTR_W+1){1'b0}};
        out_valid_reg <= 1'b0;
        rleft_reg <= {FB_W{1'b0}};
    end
end

always @* begin
    info_pop = state_reg == R_IDLE && info_valid && st_c_valid;
    st_c_pop = info_pop;
end

reg [`FT_CPL_BITS-1:0] entry;
always @* begin
    entry = {`FT_CPL_BITS{1'b0}};
    entry[`FT_CPL_QUEUE_RANGE] = {{(16-RXQ_W){1'b0}}, q_reg};
    entry[`FT_CPL_INDEX_RANGE] = index_reg;
    entry[`FT_CPL_LEN_RANGE] = f_len_reg;
    entry[`FT_CPL_DESC_COUNT_RANGE] = 8'd1;
    entry[`FT_CPL_ERROR_RANGE] = code_reg;
    entry[`FT_CPL_RX_LSB] = 1'b1;
    if (code_reg == E_NONE) begin
        entry[`FT_CPL_RSS_HASH_RANGE] = steered_reg ? f_hash_reg : 32'd0;
        entry[`FT_CPL_RSS_TYPE_RANGE] = steered_reg ? f_rss_type_reg : RSS_NONE;
        entry[`FT_CPL_IP_CSUM_RANGE] = f_ip_reg;
        entry[`FT_CPL_L4_CSUM_RANGE] = f_l4_reg;
    end
end

// ---------------------------------------------------------------- outputs

assign s_axis_tready = ingress_ok && csum_ready;

assign rxq_cons_we = state_reg == R_CONS;
assign rxq_cons_q = q_reg;
assign rxq_cons_val = cons_reg + 16'd1;

assign resv_valid = state_reg == R_RESV;
assign resv_cq = cq_reg;
// Reservations not followed by a completion: dropped after reserving (fault, small buffer).
assign unresv_valid = (state_reg == R_FETCH_RSP && rsp_here
                       && (s_rd_rsp_fault || (s_rd_rsp_last && !n_reserved && n_len < f_len_reg)));
assign unresv_cq = cq_reg;

assign m_rd_req_valid = state_reg == R_FETCH_REQ;
assign m_rd_req_addr = desc_addr_reg;
assign m_rd_req_len = `FT_RXD_SIZE;
assign m_rd_req_tag = 3'd0;
assign m_rd_req_check = 1'b0;
assign s_rd_rsp_ready = state_reg == R_FETCH_RSP;

assign m_wr_req_valid = state_reg == R_WR_REQ;
assign m_wr_req_addr = buf_addr_reg;
assign m_wr_req_len = f_len_reg;
assign m_wr_data = out_data_reg;
assign m_wr_keep = out_last_reg ? last_keep : {KEEP_WIDTH{1'b1}};
assign m_wr_valid = out_valid_reg;
assign m_wr_last = out_last_reg;
assign s_wr_rsp_ready = state_reg == R_WR_RSP;

assign cpl_valid = state_reg == R_CPL;
assign cpl_cq = cq_reg;
assign cpl_entry = entry;

assign err_valid = state_reg == R_ERR || state_reg == R_STOP;
assign err_code = code_reg;
assign err_queue = {{(16-RXQ_W){1'b0}}, q_reg};
assign err_addr = eaddr_reg;
assign err_stop = state_reg == R_STOP;

assign st_valid = state_reg == R_DONE;
assign st_q = q_reg;
assign st_outcome = outcome_reg;
assign st_bytes = f_len_reg;
assign st_csum_good = good;
assign st_csum_bad = bad;

assign idle = !in_frame_reg && !info_valid && state_reg == R_IDLE;

endmodule

`resetall
