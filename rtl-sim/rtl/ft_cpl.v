// ft_cpl: the completion writer and the completion queue slot reservations (hw-spec SPEC.md 5).
//
// Owns: writing completion entries into completion queue rings over DMA (slot = producer mod
// size, PHASE = 1 on the first pass and flipping on every wrap, TIMESTAMP from device time
// when the build advertises it), the post that advances the producer (ft_regs, which also
// disarms and raises the vector), and what the spec says when a write cannot be done: a
// completion for a disabled CQ is not written; a write that faults stops the CQ (error report
// DMA_FAULT with the faulting IOVA, queue kind CQ).
//
// Reservations: an engine reserves a slot of a CQ before it starts work that will complete
// there, so that "the CQ is full" is decided at the start of a request (a full CQ stalls TX;
// drops a received frame) and a completion never finds its CQ full. cq_room[c] says whether CQ
// c is enabled and PROD - CONS + reserved < size. ft_txq reserves (tx_resv_valid) only for a CQ
// with room, in the same cycle it sees it, and is always granted; ft_rxq's reservation is
// answered in the same cycle (rx_resv_ok), counting a TX reservation of that cycle first.
// Reservations not followed by a completion are returned (*_unresv_valid); a written (or
// discarded) completion returns its own.
//
// Completion requests carry the entry in the CPL layout with TIMESTAMP and PHASE left zero
// (filled in here); when both engines have one, they take turns. Data leaves on the DMA write
// client as one 32-byte write (ceil(256 / DATA_WIDTH) beats), whose last byte, holding PHASE,
// the DMA side makes visible last. Must not: decide what a completion says.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_cpl #(
    // Beat width of the DMA write data in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    parameter CQ_COUNT = 8,
    // Completions carry a timestamp (IDENT.CAPS.TIMESTAMP).
    parameter TIMESTAMP = 1,
    // Largest number of reservations one CQ may hold (both engines' requests in flight).
    parameter MAX_RESERVED = 32,
    // Derived, do not override.
    parameter CQ_W = CQ_COUNT > 1 ? $clog2(CQ_COUNT) : 1,
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,
    input  wire [63:0]                             time_ns,

    // Completion queue state (ft_regs)
    input  wire [CQ_COUNT*64-1:0]                  cq_base,
    input  wire [CQ_COUNT*5-1:0]                   cq_log2,
    input  wire [CQ_COUNT-1:0]                     cq_enabled,
    input  wire [CQ_COUNT*16-1:0]                  cq_prod,
    input  wire [CQ_COUNT*16-1:0]                  cq_cons,
    output wire [CQ_COUNT-1:0]                     cq_room,

    // Reservations
    input  wire                                    tx_resv_valid,
    input  wire [CQ_W-1:0]                         tx_resv_cq,
    input  wire                                    tx_unresv_valid,
    input  wire [CQ_W-1:0]                         tx_unresv_cq,
    input  wire                                    rx_resv_valid,
    input  wire [CQ_W-1:0]                         rx_resv_cq,
    output wire                                    rx_resv_ok,
    input  wire                                    rx_unresv_valid,
    input  wire [CQ_W-1:0]                         rx_unresv_cq,

    // Completion requests
    input  wire                                    tx_cpl_valid,
    output wire                                    tx_cpl_ready,
    input  wire [CQ_W-1:0]                         tx_cpl_cq,
    input  wire [`FT_CPL_BITS-1:0]                 tx_cpl_entry,
    input  wire                                    rx_cpl_valid,
    output wire                                    rx_cpl_ready,
    input  wire [CQ_W-1:0]                         rx_cpl_cq,
    input  wire [`FT_CPL_BITS-1:0]                 rx_cpl_entry,

    // DMA write client
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

    // Posts (ft_regs)
    output wire                                    cq_post_valid,
    output wire [CQ_W-1:0]                         cq_post_q,

    // Error report (ft_regs)
    output wire                                    err_valid,
    input  wire                                    err_ready,
    output wire [`FT_ERROR_CODE_WIDTH-1:0]         err_code,
    output wire [`FT_QUEUE_KIND_WIDTH-1:0]         err_kind,
    output wire [15:0]                             err_queue,
    output wire [63:0]                             err_addr,
    output wire                                    err_stop,

    output wire                                    idle
);

localparam CPL_BITS = `FT_CPL_BITS;
localparam BEATS = DATA_WIDTH >= CPL_BITS ? 1 : CPL_BITS / DATA_WIDTH;
localparam BEAT_W = BEATS > 1 ? $clog2(BEATS) : 1;
localparam RES_W = $clog2(MAX_RESERVED + 1);
localparam CPL_SHIFT = $clog2(`FT_CPL_SIZE);

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (CQ_COUNT < 1 || CQ_COUNT > 64) begin
        $display("Error: CQ_COUNT must be 1..64 (instance %m)");
        $finish;
    end
end

// ---- Reservations and room
reg [CQ_COUNT*RES_W-1:0] reserved_reg = {CQ_COUNT*RES_W{1'b0}};

localparam [2:0] S_IDLE = 3'd0;
localparam [2:0] S_REQ = 3'd1;
localparam [2:0] S_DATA = 3'd2;
localparam [2:0] S_RSP = 3'd3;
localparam [2:0] S_POST = 3'd4;
localparam [2:0] S_ERR = 3'd5;

reg [2:0] state_reg = S_IDLE;
reg [CQ_W-1:0] cq_reg = {CQ_W{1'b0}};
reg [CPL_BITS-1:0] entry_reg = {CPL_BITS{1'b0}};
reg [63:0] addr_reg = 64'd0;
reg [BEAT_W-1:0] beat_reg = {BEAT_W{1'b0}};
reg [63:0] fault_addr_reg = 64'd0;

// Round robin between the engines: when both wait, the one not served last goes first.
reg last_rx_reg = 1'b1;
wire rx_first = rx_cpl_valid && (!tx_cpl_valid || !last_rx_reg);
// A completion that returns its reservation this cycle: written, failed, or not writable.
wire take_tx = state_reg == S_IDLE && tx_cpl_valid && !rx_first;
wire take_rx = state_reg == S_IDLE && rx_first;
wire [CQ_W-1:0] take_cq = take_tx ? tx_cpl_cq : rx_cpl_cq;
wire take_disabled = (take_tx || take_rx) && !cq_enabled[take_cq];
wire done = (state_reg == S_POST) || (state_reg == S_ERR && err_ready) || take_disabled;
wire [CQ_W-1:0] done_cq = take_disabled ? take_cq : cq_reg;

wire [CQ_COUNT-1:0] room_after_tx;
wire rx_room = room_after_tx[rx_resv_cq];

genvar gc;
generate
    for (gc = 0; gc < CQ_COUNT; gc = gc + 1) begin : g_cq
        wire [4:0] log2 = cq_log2[gc*5 +: 5];
        wire [16:0] size = (log2 == 5'd0) ? 17'd0 : (17'd1 << log2);
        wire [15:0] used = cq_prod[gc*16 +: 16] - cq_cons[gc*16 +: 16];
        wire [RES_W-1:0] res = reserved_reg[gc*RES_W +: RES_W];
        wire tx_here = tx_resv_valid && {{(32-CQ_W){1'b0}}, tx_resv_cq} == gc;
        wire [17:0] need = {2'b00, used} + {{(18-RES_W){1'b0}}, res};
        wire [17:0] need_tx = need + {17'd0, tx_here};
        assign cq_room[gc] = cq_enabled[gc] && need < {1'b0, size};
        assign room_after_tx[gc] = cq_enabled[gc] && need_tx < {1'b0, size};
        wire rx_here = rx_resv_valid && rx_room && {{(32-CQ_W){1'b0}}, rx_resv_cq} == gc;
        wire tx_un = tx_unresv_valid && {{(32-CQ_W){1'b0}}, tx_unresv_cq} == gc;
        wire rx_un = rx_unresv_valid && {{(32-CQ_W){1'b0}}, rx_unresv_cq} == gc;
        wire done_here = done && {{(32-CQ_W){1'b0}}, done_cq} == gc;
        wire [RES_W-1:0] plus = {{(RES_W-1){1'b0}}, tx_here} + {{(RES_W-1){1'b0}}, rx_here};
        wire [RES_W-1:0] minus = {{(RES_W-1){1'b0}}, tx_un} + {{(RES_W-1){1'b0}}, rx_un}
                               + {{(RES_W-1){1'b0}}, done_here};
        always @(posedge clk) begin
            reserved_reg[gc*RES_W +: RES_W] <= res + plus - minus;
            if (rst) begin
                reserved_reg[gc*RES_W +: RES_W] <= {RES_W{1'b0}};
            end
        end
    end
endgenerate

assign rx_resv_ok = rx_resv_valid && rx_room;

// ---- Writing
wire [4:0] t_log2 = cq_log2[take_cq*5 +: 5];
wire [15:0] t_prod = cq_prod[take_cq*16 +: 16];
wire [15:0] t_mask = (16'd1 << t_log2) - 16'd1;
wire [15:0] t_slot = t_prod & t_mask;
wire [31:0] t_prod_ext = {16'd0, t_prod};
// PHASE: 1 on even passes through the ring (bit log2 of the producer clear).
wire t_phase = !t_prod_ext[t_log2];
wire [63:0] t_addr = cq_base[take_cq*64 +: 64] + {43'd0, t_slot, {CPL_SHIFT{1'b0}}};

reg [CPL_BITS-1:0] t_entry;
always @* begin
    t_entry = take_tx ? tx_cpl_entry : rx_cpl_entry;
    t_entry[`FT_CPL_TIMESTAMP_RANGE] = (TIMESTAMP != 0) ? time_ns : 64'd0;
    t_entry[`FT_CPL_PHASE_LSB] = t_phase;
end

always @(posedge clk) begin
    if (take_tx || take_rx) begin
        last_rx_reg <= take_rx;
    end
    case (state_reg)
        S_IDLE: begin
            if ((take_tx || take_rx) && !take_disabled) begin
                cq_reg <= take_cq;
                entry_reg <= t_entry;
                addr_reg <= t_addr;
                beat_reg <= {BEAT_W{1'b0}};
                state_reg <= S_REQ;
            end
        end
        S_REQ: begin
            if (m_wr_req_ready) begin
                state_reg <= S_DATA;
            end
        end
        S_DATA: begin
            if (m_wr_ready) begin
                beat_reg <= beat_reg + 1'b1;
                if ({{(32-BEAT_W){1'b0}}, beat_reg} == BEATS - 1) begin
                    state_reg <= S_RSP;
                end
            end
        end
        S_RSP: begin
            if (s_wr_rsp_valid) begin
                fault_addr_reg <= s_wr_rsp_fault_addr;
                state_reg <= s_wr_rsp_fault ? S_ERR : S_POST;
            end
        end
        S_POST: begin
            state_reg <= S_IDLE;
        end
        S_ERR: begin
            if (err_ready) begin
                state_reg <= S_IDLE;
            end
        end
        default: state_reg <= S_IDLE;
    endcase
    if (rst) begin
        state_reg <= S_IDLE;
        last_rx_reg <= 1'b1;
    end
end

// The beat of the entry on the data channel.
generate
    if (DATA_WIDTH >= CPL_BITS) begin : g_one_beat
        assign m_wr_data = {{(DATA_WIDTH-CPL_BITS){1'b0}}, entry_reg};
        assign m_wr_keep = {{(KEEP_WIDTH-CPL_BITS/8){1'b0}}, {(CPL_BITS/8){1'b1}}};
    end else begin : g_beats
        assign m_wr_data = entry_reg[beat_reg*DATA_WIDTH +: DATA_WIDTH];
        assign m_wr_keep = {KEEP_WIDTH{1'b1}};
    end
endgenerate

assign tx_cpl_ready = take_tx;
assign rx_cpl_ready = take_rx;
assign m_wr_req_valid = state_reg == S_REQ;
assign m_wr_req_addr = addr_reg;
assign m_wr_req_len = `FT_CPL_SIZE;
assign m_wr_valid = state_reg == S_DATA;
assign m_wr_last = {{(32-BEAT_W){1'b0}}, beat_reg} == BEATS - 1;
assign s_wr_rsp_ready = state_reg == S_RSP;
assign cq_post_valid = state_reg == S_POST;
assign cq_post_q = cq_reg;
assign err_valid = state_reg == S_ERR;
assign err_code = `FT_ERROR_CODE_DMA_FAULT;
assign err_kind = `FT_QUEUE_KIND_CQ;
assign err_queue = {{(16-CQ_W){1'b0}}, cq_reg};
assign err_addr = fault_addr_reg;
assign err_stop = 1'b1;
assign idle = state_reg == S_IDLE && !tx_cpl_valid && !rx_cpl_valid;

endmodule

`resetall
