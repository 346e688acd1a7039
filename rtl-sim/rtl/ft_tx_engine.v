// ft_tx_engine: the TX offload datapath: validation, segmentation, checksum insertion.
//
// Owns: the composition and the flow control between its stages, nothing else:
//
//   s_axis + s_axis_req_* --+--> look-ahead FIFO --> ft_tso --> ft_tx_csum --> m_axis
//                           |                          ^  \
//                           +--> ft_tx_validate -> verdict FIFO   +--> m_axis_status_*
//
// ft_tx_validate judges each request (F1-F10) from its sideband and the first header bytes
// while they enter the look-ahead FIFO, which holds enough beats (byte 136 plus slack) for the
// verdict to be ready before ft_tso starts on the request, so stage hand-offs add no bubbles.
// ft_tso drops invalid requests, passes others through and segments TSO requests; ft_tx_csum
// inserts checksums at line rate. One status per request (m_axis_status_*) in request order,
// giving what `hw_spec::TxPlan` / the completion carries; frames leave on m_axis in the same
// order (a request's SEGMENTS frames follow its predecessors').
//
// Request sideband s_axis_req_* is sampled with the first beat of each frame; s_axis_req_len
// must equal the frame's byte count (tlast on its last beat), as the queue engine guarantees.
// The cfg_* inputs are the device's IDENT capabilities and CONTROL.TSO_FLAGS_* registers; limits
// above MAX_FRAME_LEN / MAX_TSO_PAYLOAD are clamped to what this instance was built for.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"
`include "ft_proto.vh"

module ft_tx_engine #(
    // Beat width in bits: a power of two from 64 to 512 (512 is the reference build).
    parameter DATA_WIDTH = 512,
    // Largest frame on the wire; sizes the checksum engine's ring (two frames).
    parameter MAX_FRAME_LEN = 9216,
    // Largest TSO payload; sizes the segmenter's counters.
    parameter MAX_TSO_PAYLOAD = 65535,
    // Derived, do not override: bytes per beat.
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    input  wire                                    cfg_cap_tx_ipv4_csum,
    input  wire                                    cfg_cap_tx_tcp_csum,
    input  wire                                    cfg_cap_tx_udp_csum,
    input  wire                                    cfg_cap_tso,
    input  wire [`FT_IDENT_MAX_FRAME_LEN_BYTES_WIDTH-1:0] cfg_max_frame_len,
    input  wire [`FT_IDENT_MSS_LIMITS_MIN_MSS_WIDTH-1:0]  cfg_min_mss,
    input  wire [`FT_IDENT_MSS_LIMITS_MAX_MSS_WIDTH-1:0]  cfg_max_mss,
    input  wire [31:0]                             cfg_max_tso_payload,
    input  wire [`FT_CONTROL_TSO_FLAGS_FIRST_FLAGS_WIDTH-1:0]  cfg_tso_flags_first,
    input  wire [`FT_CONTROL_TSO_FLAGS_MIDDLE_FLAGS_WIDTH-1:0] cfg_tso_flags_middle,
    input  wire [`FT_CONTROL_TSO_FLAGS_LAST_FLAGS_WIDTH-1:0]   cfg_tso_flags_last,

    input  wire [DATA_WIDTH-1:0]                   s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_axis_tkeep,
    input  wire                                    s_axis_tvalid,
    output wire                                    s_axis_tready,
    input  wire                                    s_axis_tlast,
    input  wire [`FT_TXD_LEN_WIDTH-1:0]            s_axis_req_len,
    input  wire                                    s_axis_req_ip_csum,
    input  wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        s_axis_req_l4_csum,
    input  wire                                    s_axis_req_tso,
    input  wire [`FT_TXD_MSS_WIDTH-1:0]            s_axis_req_mss,
    input  wire [`FT_TXD_L2_LEN_WIDTH-1:0]         s_axis_req_l2_len,
    input  wire [`FT_TXD_L3_LEN_WIDTH-1:0]         s_axis_req_l3_len,
    input  wire [`FT_TXD_L4_LEN_WIDTH-1:0]         s_axis_req_l4_len,

    output wire [DATA_WIDTH-1:0]                   m_axis_tdata,
    output wire [KEEP_WIDTH-1:0]                   m_axis_tkeep,
    output wire                                    m_axis_tvalid,
    input  wire                                    m_axis_tready,
    output wire                                    m_axis_tlast,

    output wire                                    m_axis_status_valid,
    input  wire                                    m_axis_status_ready,
    output wire [`FT_ERROR_CODE_WIDTH-1:0]         m_axis_status_error,
    output wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       m_axis_status_segments,
    output wire                                    m_axis_status_checksummed,
    output wire [15:0]                             m_axis_status_header_len,
    output wire [`FT_TXD_LEN_WIDTH-1:0]            m_axis_status_payload_len
);

localparam LANE_BITS = $clog2(KEEP_WIDTH);
// The verdict needs header bytes up to offset MAX_L2 + MAX_L3 + 12 (TCP data offset).
localparam VERDICT_BEATS = ((`FT_MAX_L2_LEN + `FT_MAX_L3_LEN + `FT_TCP_DOFF_OFFSET) >> LANE_BITS) + 1;
localparam LA_ADDR_WIDTH = $clog2(VERDICT_BEATS + 4);
localparam LA_DEPTH = 1 << LA_ADDR_WIDTH;

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

// ---- Validation (snoops the accepted input) ----
wire v_valid;
wire [`FT_ERROR_CODE_WIDTH-1:0] v_error;
wire [`FT_TXD_LEN_WIDTH-1:0] v_len;
wire v_ip;
wire [`FT_TXD_L4_CSUM_WIDTH-1:0] v_l4;
wire v_tso;
wire [`FT_TXD_MSS_WIDTH-1:0] v_mss;
wire [`FT_TXD_L2_LEN_WIDTH-1:0] v_l2;
wire [`FT_TXD_L3_LEN_WIDTH-1:0] v_l3;
wire [`FT_TXD_L4_LEN_WIDTH-1:0] v_l4len;

wire la_in_ready;
wire [LA_ADDR_WIDTH:0] vq_count;
wire in_ready = la_in_ready && vq_count <= LA_DEPTH - 2;

ft_tx_validate #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_FRAME_LEN(MAX_FRAME_LEN),
    .MAX_TSO_PAYLOAD(MAX_TSO_PAYLOAD)
) u_validate (
    .clk(clk),
    .rst(rst),
    .cfg_cap_tx_ipv4_csum(cfg_cap_tx_ipv4_csum),
    .cfg_cap_tx_tcp_csum(cfg_cap_tx_tcp_csum),
    .cfg_cap_tx_udp_csum(cfg_cap_tx_udp_csum),
    .cfg_cap_tso(cfg_cap_tso),
    .cfg_max_frame_len(cfg_max_frame_len),
    .cfg_min_mss(cfg_min_mss),
    .cfg_max_mss(cfg_max_mss),
    .cfg_max_tso_payload(cfg_max_tso_payload),
    .s_axis_tdata(s_axis_tdata),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(in_ready),
    .s_axis_tlast(s_axis_tlast),
    .s_axis_req_len(s_axis_req_len),
    .s_axis_req_ip_csum(s_axis_req_ip_csum),
    .s_axis_req_l4_csum(s_axis_req_l4_csum),
    .s_axis_req_tso(s_axis_req_tso),
    .s_axis_req_mss(s_axis_req_mss),
    .s_axis_req_l2_len(s_axis_req_l2_len),
    .s_axis_req_l3_len(s_axis_req_l3_len),
    .s_axis_req_l4_len(s_axis_req_l4_len),
    .m_verdict_valid(v_valid),
    .m_verdict_error(v_error),
    .m_verdict_len(v_len),
    .m_verdict_ip_csum(v_ip),
    .m_verdict_l4_csum(v_l4),
    .m_verdict_tso(v_tso),
    .m_verdict_mss(v_mss),
    .m_verdict_l2_len(v_l2),
    .m_verdict_l3_len(v_l3),
    .m_verdict_l4_len(v_l4len)
);

// ---- Verdict queue ----
localparam VQ_WIDTH = `FT_ERROR_CODE_WIDTH + `FT_TXD_LEN_WIDTH + 1 + `FT_TXD_L4_CSUM_WIDTH + 1
                    + `FT_TXD_MSS_WIDTH + `FT_TXD_L2_LEN_WIDTH + `FT_TXD_L3_LEN_WIDTH
                    + `FT_TXD_L4_LEN_WIDTH;
wire [VQ_WIDTH-1:0] vq_out;
wire vq_valid;
wire vq_ready;
// Never full when a verdict arrives: the input stops while fewer than two entries are free
// (one verdict may be in flight in ft_tx_validate's output register).
/* verilator lint_off UNUSEDSIGNAL */
wire vq_in_ready;
/* verilator lint_on UNUSEDSIGNAL */

ft_fifo #(
    .WIDTH(VQ_WIDTH),
    .ADDR_WIDTH(LA_ADDR_WIDTH)
) u_verdicts (
    .clk(clk),
    .rst(rst),
    .s_data({v_error, v_len, v_ip, v_l4, v_tso, v_mss, v_l2, v_l3, v_l4len}),
    .s_valid(v_valid),
    .s_ready(vq_in_ready),
    .m_data(vq_out),
    .m_valid(vq_valid),
    .m_ready(vq_ready),
    .count(vq_count)
);

wire [`FT_ERROR_CODE_WIDTH-1:0] q_error;
wire [`FT_TXD_LEN_WIDTH-1:0] q_len;
wire q_ip;
wire [`FT_TXD_L4_CSUM_WIDTH-1:0] q_l4;
wire q_tso;
wire [`FT_TXD_MSS_WIDTH-1:0] q_mss;
wire [`FT_TXD_L2_LEN_WIDTH-1:0] q_l2;
wire [`FT_TXD_L3_LEN_WIDTH-1:0] q_l3;
wire [`FT_TXD_L4_LEN_WIDTH-1:0] q_l4len;
assign {q_error, q_len, q_ip, q_l4, q_tso, q_mss, q_l2, q_l3, q_l4len} = vq_out;

// ---- Look-ahead data queue ----
wire [DATA_WIDTH-1:0] la_tdata;
wire [KEEP_WIDTH-1:0] la_tkeep;
wire la_tlast;
wire la_tvalid;
wire la_tready;
// Its count is not needed: ft_tso takes beats whenever it can.
/* verilator lint_off UNUSEDSIGNAL */
wire [LA_ADDR_WIDTH:0] la_count;
/* verilator lint_on UNUSEDSIGNAL */

ft_fifo #(
    .WIDTH(DATA_WIDTH + KEEP_WIDTH + 1),
    .ADDR_WIDTH(LA_ADDR_WIDTH)
) u_lookahead (
    .clk(clk),
    .rst(rst),
    .s_data({s_axis_tdata, s_axis_tkeep, s_axis_tlast}),
    .s_valid(s_axis_tvalid && in_ready),
    .s_ready(la_in_ready),
    .m_data({la_tdata, la_tkeep, la_tlast}),
    .m_valid(la_tvalid),
    .m_ready(la_tready),
    .count(la_count)
);

// ---- Segmentation and dispatch ----
wire [DATA_WIDTH-1:0] seg_tdata;
wire [KEEP_WIDTH-1:0] seg_tkeep;
wire seg_tvalid;
wire seg_tready;
wire seg_tlast;
wire seg_ip;
wire [`FT_TXD_L4_CSUM_WIDTH-1:0] seg_l4;
wire [`FT_TXD_L2_LEN_WIDTH-1:0] seg_l2;
wire [`FT_TXD_L3_LEN_WIDTH-1:0] seg_l3;

ft_tso #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_TSO_PAYLOAD(MAX_TSO_PAYLOAD)
) u_tso (
    .clk(clk),
    .rst(rst),
    .cfg_tso_flags_first(cfg_tso_flags_first),
    .cfg_tso_flags_middle(cfg_tso_flags_middle),
    .cfg_tso_flags_last(cfg_tso_flags_last),
    .s_axis_tdata(la_tdata),
    .s_axis_tkeep(la_tkeep),
    .s_axis_tvalid(la_tvalid),
    .s_axis_tready(la_tready),
    .s_axis_tlast(la_tlast),
    .s_req_valid(vq_valid),
    .s_req_ready(vq_ready),
    .s_req_error(q_error),
    .s_req_len(q_len),
    .s_req_ip_csum(q_ip),
    .s_req_l4_csum(q_l4),
    .s_req_tso(q_tso),
    .s_req_mss(q_mss),
    .s_req_l2_len(q_l2),
    .s_req_l3_len(q_l3),
    .s_req_l4_len(q_l4len),
    .m_axis_tdata(seg_tdata),
    .m_axis_tkeep(seg_tkeep),
    .m_axis_tvalid(seg_tvalid),
    .m_axis_tready(seg_tready),
    .m_axis_tlast(seg_tlast),
    .m_axis_ip_csum(seg_ip),
    .m_axis_l4_csum(seg_l4),
    .m_axis_l2_len(seg_l2),
    .m_axis_l3_len(seg_l3),
    .m_status_valid(m_axis_status_valid),
    .m_status_ready(m_axis_status_ready),
    .m_status_error(m_axis_status_error),
    .m_status_segments(m_axis_status_segments),
    .m_status_checksummed(m_axis_status_checksummed),
    .m_status_header_len(m_axis_status_header_len),
    .m_status_payload_len(m_axis_status_payload_len)
);

// ---- Checksum insertion ----
ft_tx_csum #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_FRAME_LEN(MAX_FRAME_LEN)
) u_csum (
    .clk(clk),
    .rst(rst),
    .s_axis_tdata(seg_tdata),
    .s_axis_tkeep(seg_tkeep),
    .s_axis_tvalid(seg_tvalid),
    .s_axis_tready(seg_tready),
    .s_axis_tlast(seg_tlast),
    .s_axis_ip_csum(seg_ip),
    .s_axis_l4_csum(seg_l4),
    .s_axis_l2_len(seg_l2),
    .s_axis_l3_len(seg_l3),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast)
);

assign s_axis_tready = in_ready;

endmodule

`resetall
