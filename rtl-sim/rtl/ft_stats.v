// ft_stats: the per-queue statistics counters of the STATS block and CONTROL.RX_DROPS_NO_QUEUE
// (hw-spec SPEC.md 9).
//
// Owns: per TX queue FRAMES and BYTES (64-bit, wrapping), REQUESTS, CSUM_INSERTED, TSO_SEGMENTS
// and ERRORS (32-bit, saturating); per RX queue FRAMES and BYTES (64-bit), DROPS, CSUM_BAD,
// CSUM_GOOD and ERRORS (32-bit, saturating); the global RX_DROPS_NO_QUEUE (saturating).
//
// Updates come once per request or frame, each from one engine: ft_txq reports a completed TX
// request (REQUESTS + 1, and the wire frames, bytes, checksummed frames and TSO segments it
// produced, or an error); ft_rxq reports what happened to a received frame (delivered with its
// checksum verdict, dropped on a queue, dropped for want of a queue, or an error completion).
// The read port answers the register file combinationally for any address in the STATS block
// (rd_hit for existing counters; other addresses read 0). dirty_* flag (in the cycle of the
// update) which counter set changes (the register file's change tracking). Must not: decide what happened to a frame.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_stats #(
    parameter TX_QUEUES = 4,
    parameter RX_QUEUES = 4,
    // Derived, do not override.
    parameter TXQ_W = TX_QUEUES > 1 ? $clog2(TX_QUEUES) : 1,
    parameter RXQ_W = RX_QUEUES > 1 ? $clog2(RX_QUEUES) : 1
) (
    input  wire                                    clk,
    input  wire                                    rst,

    // A completed TX request
    input  wire                                    tx_valid,
    input  wire [TXQ_W-1:0]                        tx_q,
    input  wire                                    tx_error,
    input  wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       tx_frames,
    input  wire [31:0]                             tx_bytes,
    input  wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       tx_csum_frames,
    input  wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       tx_tso_frames,

    // A received frame: what happened to it (RX_* below)
    input  wire                                    rx_valid,
    input  wire [RXQ_W-1:0]                        rx_q,
    input  wire [1:0]                              rx_outcome,
    input  wire [31:0]                             rx_bytes,
    input  wire                                    rx_csum_good,
    input  wire                                    rx_csum_bad,

    // Register reads (BAR0 address)
    input  wire [31:0]                             rd_addr,
    output reg  [31:0]                             rd_data,
    output reg                                     rd_hit,
    output wire [31:0]                             rx_drops_no_queue,

    output wire [TX_QUEUES-1:0]                    dirty_tx,
    output wire [RX_QUEUES-1:0]                    dirty_rx,
    output wire                                    dirty_control
);

// rx_outcome values
localparam [1:0] RX_DELIVERED = 2'd0;
localparam [1:0] RX_DROPPED = 2'd1;
localparam [1:0] RX_NO_QUEUE = 2'd2;
localparam [1:0] RX_ERROR = 2'd3;

localparam [31:0] TXS_ARR = `FT_STATS_BASE + `FT_TXQ_STATS_ARRAY_OFFSET;
localparam [31:0] RXS_ARR = `FT_STATS_BASE + `FT_RXQ_STATS_ARRAY_OFFSET;
localparam SS_BITS = $clog2(`FT_TXQ_STATS_STRIDE);
localparam [31:0] TXS_END = TXS_ARR + TX_QUEUES * `FT_TXQ_STATS_STRIDE;
localparam [31:0] RXS_END = RXS_ARR + RX_QUEUES * `FT_RXQ_STATS_STRIDE;

initial begin
    if (`FT_RXQ_STATS_STRIDE != `FT_TXQ_STATS_STRIDE) begin
        $display("Error: the TX and RX statistics sets must share one stride (instance %m)");
        $finish;
    end
end

// Counter sets, queue q in slice q of each vector.
reg [TX_QUEUES*64-1:0] tx_frames_reg = {TX_QUEUES*64{1'b0}};
reg [TX_QUEUES*64-1:0] tx_bytes_reg = {TX_QUEUES*64{1'b0}};
reg [TX_QUEUES*32-1:0] tx_requests_reg = {TX_QUEUES*32{1'b0}};
reg [TX_QUEUES*32-1:0] tx_csum_reg = {TX_QUEUES*32{1'b0}};
reg [TX_QUEUES*32-1:0] tx_tso_reg = {TX_QUEUES*32{1'b0}};
reg [TX_QUEUES*32-1:0] tx_errors_reg = {TX_QUEUES*32{1'b0}};
reg [RX_QUEUES*64-1:0] rx_frames_reg = {RX_QUEUES*64{1'b0}};
reg [RX_QUEUES*64-1:0] rx_bytes_reg = {RX_QUEUES*64{1'b0}};
reg [RX_QUEUES*32-1:0] rx_drops_reg = {RX_QUEUES*32{1'b0}};
reg [RX_QUEUES*32-1:0] rx_bad_reg = {RX_QUEUES*32{1'b0}};
reg [RX_QUEUES*32-1:0] rx_good_reg = {RX_QUEUES*32{1'b0}};
reg [RX_QUEUES*32-1:0] rx_errors_reg = {RX_QUEUES*32{1'b0}};
reg [31:0] no_queue_reg = 32'd0;

// Saturating 32-bit addition.
function [31:0] sat_add(input [31:0] a, input [31:0] b);
    reg [32:0] s;
    begin
        s = {1'b0, a} + {1'b0, b};
        sat_add = s[32] ? 32'hFFFF_FFFF : s[31:0];
    end
endfunction

localparam SEG_W = `FT_CPL_SEGMENTS_WIDTH;

always @(posedge clk) begin
    if (tx_valid) begin
        tx_requests_reg[tx_q*32 +: 32] <= sat_add(tx_requests_reg[tx_q*32 +: 32], 32'd1);
        if (tx_error) begin
            tx_errors_reg[tx_q*32 +: 32] <= sat_add(tx_errors_reg[tx_q*32 +: 32], 32'd1);
        end else begin
            tx_frames_reg[tx_q*64 +: 64] <= tx_frames_reg[tx_q*64 +: 64]
                                          + {{(64-SEG_W){1'b0}}, tx_frames};
            tx_bytes_reg[tx_q*64 +: 64] <= tx_bytes_reg[tx_q*64 +: 64] + {32'd0, tx_bytes};
            tx_csum_reg[tx_q*32 +: 32] <= sat_add(tx_csum_reg[tx_q*32 +: 32],
                                                  {{(32-SEG_W){1'b0}}, tx_csum_frames});
            tx_tso_reg[tx_q*32 +: 32] <= sat_add(tx_tso_reg[tx_q*32 +: 32],
                                                 {{(32-SEG_W){1'b0}}, tx_tso_frames});
        end
    end
    if (rx_valid) begin
        case (rx_outcome)
            RX_DELIVERED: begin
                rx_frames_reg[rx_q*64 +: 64] <= rx_frames_reg[rx_q*64 +: 64] + 64'd1;
                rx_bytes_reg[rx_q*64 +: 64] <= rx_bytes_reg[rx_q*64 +: 64] + {32'd0, rx_bytes};
                if (rx_csum_bad) begin
                    rx_bad_reg[rx_q*32 +: 32] <= sat_add(rx_bad_reg[rx_q*32 +: 32], 32'd1);
                end else if (rx_csum_good) begin
                    rx_good_reg[rx_q*32 +: 32] <= sat_add(rx_good_reg[rx_q*32 +: 32], 32'd1);
                end
            end
            RX_DROPPED: begin
                rx_drops_reg[rx_q*32 +: 32] <= sat_add(rx_drops_reg[rx_q*32 +: 32], 32'd1);
            end
            RX_ERROR: begin
                rx_errors_reg[rx_q*32 +: 32] <= sat_add(rx_errors_reg[rx_q*32 +: 32], 32'd1);
            end
            default: begin
                no_queue_reg <= sat_add(no_queue_reg, 32'd1);
            end
        endcase
    end
    if (rst) begin
        tx_frames_reg <= {TX_QUEUES*64{1'b0}};
        tx_bytes_reg <= {TX_QUEUES*64{1'b0}};
        tx_requests_reg <= {TX_QUEUES*32{1'b0}};
        tx_csum_reg <= {TX_QUEUES*32{1'b0}};
        tx_tso_reg <= {TX_QUEUES*32{1'b0}};
        tx_errors_reg <= {TX_QUEUES*32{1'b0}};
        rx_frames_reg <= {RX_QUEUES*64{1'b0}};
        rx_bytes_reg <= {RX_QUEUES*64{1'b0}};
        rx_drops_reg <= {RX_QUEUES*32{1'b0}};
        rx_bad_reg <= {RX_QUEUES*32{1'b0}};
        rx_good_reg <= {RX_QUEUES*32{1'b0}};
        rx_errors_reg <= {RX_QUEUES*32{1'b0}};
        no_queue_reg <= 32'd0;
    end
end

// ---- Reads
localparam [31:0] O_FRAMES_LO_32 = `FT_TXQ_STATS_FRAMES_LO_OFFSET;
localparam [31:0] O_FRAMES_HI_32 = `FT_TXQ_STATS_FRAMES_HI_OFFSET;
localparam [31:0] O_BYTES_LO_32 = `FT_TXQ_STATS_BYTES_LO_OFFSET;
localparam [31:0] O_BYTES_HI_32 = `FT_TXQ_STATS_BYTES_HI_OFFSET;
localparam [31:0] O_REQUESTS_32 = `FT_TXQ_STATS_REQUESTS_OFFSET;
localparam [31:0] O_CSUM_INSERTED_32 = `FT_TXQ_STATS_CSUM_INSERTED_OFFSET;
localparam [31:0] O_TSO_SEGMENTS_32 = `FT_TXQ_STATS_TSO_SEGMENTS_OFFSET;
localparam [31:0] O_TX_ERRORS_32 = `FT_TXQ_STATS_ERRORS_OFFSET;
localparam [31:0] O_RX_FRAMES_LO_32 = `FT_RXQ_STATS_FRAMES_LO_OFFSET;
localparam [31:0] O_RX_FRAMES_HI_32 = `FT_RXQ_STATS_FRAMES_HI_OFFSET;
localparam [31:0] O_RX_BYTES_LO_32 = `FT_RXQ_STATS_BYTES_LO_OFFSET;
localparam [31:0] O_RX_BYTES_HI_32 = `FT_RXQ_STATS_BYTES_HI_OFFSET;
localparam [31:0] O_DROPS_32 = `FT_RXQ_STATS_DROPS_OFFSET;
localparam [31:0] O_CSUM_BAD_32 = `FT_RXQ_STATS_CSUM_BAD_OFFSET;
localparam [31:0] O_CSUM_GOOD_32 = `FT_RXQ_STATS_CSUM_GOOD_OFFSET;
localparam [31:0] O_RX_ERRORS_32 = `FT_RXQ_STATS_ERRORS_OFFSET;
localparam [SS_BITS-1:0] O_FRAMES_LO = O_FRAMES_LO_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_FRAMES_HI = O_FRAMES_HI_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_BYTES_LO = O_BYTES_LO_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_BYTES_HI = O_BYTES_HI_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_REQUESTS = O_REQUESTS_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_CSUM_INSERTED = O_CSUM_INSERTED_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_TSO_SEGMENTS = O_TSO_SEGMENTS_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_TX_ERRORS = O_TX_ERRORS_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_RX_FRAMES_LO = O_RX_FRAMES_LO_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_RX_FRAMES_HI = O_RX_FRAMES_HI_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_RX_BYTES_LO = O_RX_BYTES_LO_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_RX_BYTES_HI = O_RX_BYTES_HI_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_DROPS = O_DROPS_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_CSUM_BAD = O_CSUM_BAD_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_CSUM_GOOD = O_CSUM_GOOD_32[SS_BITS-1:0];
localparam [SS_BITS-1:0] O_RX_ERRORS = O_RX_ERRORS_32[SS_BITS-1:0];
localparam TR_W = SS_BITS + TXQ_W;
localparam RR_W = SS_BITS + RXQ_W;
localparam [TR_W-1:0] TXS_ARR_R = TXS_ARR[TR_W-1:0];
localparam [RR_W-1:0] RXS_ARR_R = RXS_ARR[RR_W-1:0];

wire [TR_W-1:0] t_rel = rd_addr[TR_W-1:0] - TXS_ARR_R;
wire [RR_W-1:0] r_rel = rd_addr[RR_W-1:0] - RXS_ARR_R;
wire [TXQ_W-1:0] rtq = t_rel[SS_BITS +: TXQ_W];
wire [RXQ_W-1:0] rrq = r_rel[SS_BITS +: RXQ_W];
always @* begin
    rd_data = 32'd0;
    rd_hit = 1'b0;
    if (rd_addr >= TXS_ARR && rd_addr < TXS_END) begin
        rd_hit = 1'b1;
        case (t_rel[SS_BITS-1:0])
            O_FRAMES_LO: rd_data = tx_frames_reg[rtq*64 +: 32];
            O_FRAMES_HI: rd_data = tx_frames_reg[rtq*64 + 32 +: 32];
            O_BYTES_LO: rd_data = tx_bytes_reg[rtq*64 +: 32];
            O_BYTES_HI: rd_data = tx_bytes_reg[rtq*64 + 32 +: 32];
            O_REQUESTS: rd_data = tx_requests_reg[rtq*32 +: 32];
            O_CSUM_INSERTED: rd_data = tx_csum_reg[rtq*32 +: 32];
            O_TSO_SEGMENTS: rd_data = tx_tso_reg[rtq*32 +: 32];
            O_TX_ERRORS: rd_data = tx_errors_reg[rtq*32 +: 32];
            default: rd_data = 32'd0;
        endcase
    end else if (rd_addr >= RXS_ARR && rd_addr < RXS_END) begin
        rd_hit = 1'b1;
        case (r_rel[SS_BITS-1:0])
            O_RX_FRAMES_LO: rd_data = rx_frames_reg[rrq*64 +: 32];
            O_RX_FRAMES_HI: rd_data = rx_frames_reg[rrq*64 + 32 +: 32];
            O_RX_BYTES_LO: rd_data = rx_bytes_reg[rrq*64 +: 32];
            O_RX_BYTES_HI: rd_data = rx_bytes_reg[rrq*64 + 32 +: 32];
            O_DROPS: rd_data = rx_drops_reg[rrq*32 +: 32];
            O_CSUM_BAD: rd_data = rx_bad_reg[rrq*32 +: 32];
            O_CSUM_GOOD: rd_data = rx_good_reg[rrq*32 +: 32];
            O_RX_ERRORS: rd_data = rx_errors_reg[rrq*32 +: 32];
            default: rd_data = 32'd0;
        endcase
    end
end

assign rx_drops_no_queue = no_queue_reg;

// Change flags in the cycle of the update (the register file registers them with it).
genvar gq;
generate
    for (gq = 0; gq < TX_QUEUES; gq = gq + 1) begin : g_dtx
        assign dirty_tx[gq] = tx_valid && {{(32-TXQ_W){1'b0}}, tx_q} == gq;
    end
    for (gq = 0; gq < RX_QUEUES; gq = gq + 1) begin : g_drx
        assign dirty_rx[gq] = rx_valid && {{(32-RXQ_W){1'b0}}, rx_q} == gq
                           && rx_outcome != RX_NO_QUEUE;
    end
endgenerate
assign dirty_control = rx_valid && rx_outcome == RX_NO_QUEUE;

endmodule

`resetall
