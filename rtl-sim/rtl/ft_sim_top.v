// ft_sim_top: the Verilator harness top of rtl-sim: one TX engine and one RX engine side by
// side, with independent ports (tx_* and rx_*), so one Verilated model per datapath width serves
// every differential test and benchmark. Nothing here but the two instances.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_sim_top #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Largest frame (both engines).
    parameter MAX_FRAME_LEN = 9216,
    // Largest TSO payload.
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
    input  wire                                    cfg_rx_csum_enable,
    input  wire [`FT_RSS_KEY_WORDS*32-1:0]         cfg_rss_key,

    input  wire [DATA_WIDTH-1:0]                   tx_s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   tx_s_axis_tkeep,
    input  wire                                    tx_s_axis_tvalid,
    output wire                                    tx_s_axis_tready,
    input  wire                                    tx_s_axis_tlast,
    input  wire [`FT_TXD_LEN_WIDTH-1:0]            tx_s_axis_req_len,
    input  wire                                    tx_s_axis_req_ip_csum,
    input  wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        tx_s_axis_req_l4_csum,
    input  wire                                    tx_s_axis_req_tso,
    input  wire [`FT_TXD_MSS_WIDTH-1:0]            tx_s_axis_req_mss,
    input  wire [`FT_TXD_L2_LEN_WIDTH-1:0]         tx_s_axis_req_l2_len,
    input  wire [`FT_TXD_L3_LEN_WIDTH-1:0]         tx_s_axis_req_l3_len,
    input  wire [`FT_TXD_L4_LEN_WIDTH-1:0]         tx_s_axis_req_l4_len,
    output wire [DATA_WIDTH-1:0]                   tx_m_axis_tdata,
    output wire [KEEP_WIDTH-1:0]                   tx_m_axis_tkeep,
    output wire                                    tx_m_axis_tvalid,
    input  wire                                    tx_m_axis_tready,
    output wire                                    tx_m_axis_tlast,
    output wire                                    tx_m_axis_status_valid,
    input  wire                                    tx_m_axis_status_ready,
    output wire [`FT_ERROR_CODE_WIDTH-1:0]         tx_m_axis_status_error,
    output wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       tx_m_axis_status_segments,
    output wire                                    tx_m_axis_status_checksummed,
    output wire [15:0]                             tx_m_axis_status_header_len,
    output wire [`FT_TXD_LEN_WIDTH-1:0]            tx_m_axis_status_payload_len,

    input  wire [DATA_WIDTH-1:0]                   rx_s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   rx_s_axis_tkeep,
    input  wire                                    rx_s_axis_tvalid,
    output wire                                    rx_s_axis_tready,
    input  wire                                    rx_s_axis_tlast,
    output wire                                    rx_m_status_valid,
    input  wire                                    rx_m_status_ready,
    output wire [`FT_CSUM_STATUS_WIDTH-1:0]        rx_m_status_ip_csum,
    output wire [`FT_CSUM_STATUS_WIDTH-1:0]        rx_m_status_l4_csum,
    output wire [`FT_RSS_TYPE_WIDTH-1:0]           rx_m_status_rss_type,
    output wire [95:0]                             rx_m_status_rss_input,
    output wire [`FT_CPL_RSS_HASH_WIDTH-1:0]       rx_m_status_rss_hash,
    output wire [15:0]                             rx_m_status_len
);

ft_tx_engine #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_FRAME_LEN(MAX_FRAME_LEN),
    .MAX_TSO_PAYLOAD(MAX_TSO_PAYLOAD)
) u_tx (
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
    .cfg_tso_flags_first(cfg_tso_flags_first),
    .cfg_tso_flags_middle(cfg_tso_flags_middle),
    .cfg_tso_flags_last(cfg_tso_flags_last),
    .s_axis_tdata(tx_s_axis_tdata),
    .s_axis_tkeep(tx_s_axis_tkeep),
    .s_axis_tvalid(tx_s_axis_tvalid),
    .s_axis_tready(tx_s_axis_tready),
    .s_axis_tlast(tx_s_axis_tlast),
    .s_axis_req_len(tx_s_axis_req_len),
    .s_axis_req_ip_csum(tx_s_axis_req_ip_csum),
    .s_axis_req_l4_csum(tx_s_axis_req_l4_csum),
    .s_axis_req_tso(tx_s_axis_req_tso),
    .s_axis_req_mss(tx_s_axis_req_mss),
    .s_axis_req_l2_len(tx_s_axis_req_l2_len),
    .s_axis_req_l3_len(tx_s_axis_req_l3_len),
    .s_axis_req_l4_len(tx_s_axis_req_l4_len),
    .m_axis_tdata(tx_m_axis_tdata),
    .m_axis_tkeep(tx_m_axis_tkeep),
    .m_axis_tvalid(tx_m_axis_tvalid),
    .m_axis_tready(tx_m_axis_tready),
    .m_axis_tlast(tx_m_axis_tlast),
    .m_axis_status_valid(tx_m_axis_status_valid),
    .m_axis_status_ready(tx_m_axis_status_ready),
    .m_axis_status_error(tx_m_axis_status_error),
    .m_axis_status_segments(tx_m_axis_status_segments),
    .m_axis_status_checksummed(tx_m_axis_status_checksummed),
    .m_axis_status_header_len(tx_m_axis_status_header_len),
    .m_axis_status_payload_len(tx_m_axis_status_payload_len)
);

ft_rx_csum #(
    .DATA_WIDTH(DATA_WIDTH),
    .MAX_FRAME_LEN(MAX_FRAME_LEN)
) u_rx (
    .clk(clk),
    .rst(rst),
    .cfg_csum_enable(cfg_rx_csum_enable),
    .cfg_rss_key(cfg_rss_key),
    .s_axis_tdata(rx_s_axis_tdata),
    .s_axis_tkeep(rx_s_axis_tkeep),
    .s_axis_tvalid(rx_s_axis_tvalid),
    .s_axis_tready(rx_s_axis_tready),
    .s_axis_tlast(rx_s_axis_tlast),
    .m_status_valid(rx_m_status_valid),
    .m_status_ready(rx_m_status_ready),
    .m_status_ip_csum(rx_m_status_ip_csum),
    .m_status_l4_csum(rx_m_status_l4_csum),
    .m_status_rss_type(rx_m_status_rss_type),
    .m_status_rss_input(rx_m_status_rss_input),
    .m_status_rss_hash(rx_m_status_rss_hash),
    .m_status_len(rx_m_status_len)
);

endmodule

`resetall
