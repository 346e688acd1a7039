// ft_tx_validate: the frame-level checks F1-F10 of a TX offload request (hw-spec SPEC.md 6.1).
//
// Owns: the verdict on each request, in the order the contract fixes (first failure wins), so
// the RTL reports the same error code as `hw_spec::validate_tx_request`. It observes the input
// stream without touching it (s_axis_* are inputs only: it snoops the handshakes of the stream
// the TX engine accepts). The request sideband (s_axis_req_*) is sampled with the first beat of
// each frame; s_axis_req_len is the frame's byte count (the sum of its descriptors), which the
// queue engine knows before the data arrives, so a TSO request is judged before its payload.
//
// The verdict is emitted as a one-cycle pulse on m_verdict_valid, with the latched request,
// one cycle after the beat holding the last header byte the checks read (the IPv4 version/IHL
// at L2_LEN, the protocol at L2_LEN+9, the TCP data offset at L2_LEN+L3_LEN+12; at most byte 136)
// or after the frame's last beat if that comes first. The consumer must take every pulse.
// An L4_CSUM of the reserved value 3 is judged BAD_FLAGS (the queue engine's rule C1, repeated
// here so the engine is safe on its own). Must not: buffer or modify frame data.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"
`include "ft_proto.vh"

module ft_tx_validate #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Largest frame the engine instance can hold (caps cfg_max_frame_len).
    parameter MAX_FRAME_LEN = 9216,
    // Largest TSO payload the instance supports (caps cfg_max_tso_payload).
    parameter MAX_TSO_PAYLOAD = 65535
) (
    input  wire                                    clk,
    input  wire                                    rst,

    // Configuration (IDENT.CAPS bits, IDENT.MAX_FRAME_LEN, IDENT.MSS_LIMITS, IDENT.MAX_TSO_PAYLOAD)
    input  wire                                    cfg_cap_tx_ipv4_csum,
    input  wire                                    cfg_cap_tx_tcp_csum,
    input  wire                                    cfg_cap_tx_udp_csum,
    input  wire                                    cfg_cap_tso,
    input  wire [`FT_IDENT_MAX_FRAME_LEN_BYTES_WIDTH-1:0] cfg_max_frame_len,
    input  wire [`FT_IDENT_MSS_LIMITS_MIN_MSS_WIDTH-1:0]  cfg_min_mss,
    input  wire [`FT_IDENT_MSS_LIMITS_MAX_MSS_WIDTH-1:0]  cfg_max_mss,
    input  wire [31:0]                             cfg_max_tso_payload,

    // Snooped input stream (handshake = tvalid && tready)
    input  wire [DATA_WIDTH-1:0]                   s_axis_tdata,
    input  wire                                    s_axis_tvalid,
    input  wire                                    s_axis_tready,
    input  wire                                    s_axis_tlast,
    input  wire [`FT_TXD_LEN_WIDTH-1:0]            s_axis_req_len,
    input  wire                                    s_axis_req_ip_csum,
    input  wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        s_axis_req_l4_csum,
    input  wire                                    s_axis_req_tso,
    input  wire [`FT_TXD_MSS_WIDTH-1:0]            s_axis_req_mss,
    input  wire [`FT_TXD_L2_LEN_WIDTH-1:0]         s_axis_req_l2_len,
    input  wire [`FT_TXD_L3_LEN_WIDTH-1:0]         s_axis_req_l3_len,
    input  wire [`FT_TXD_L4_LEN_WIDTH-1:0]         s_axis_req_l4_len,

    // Verdict, one pulse per frame
    output wire                                    m_verdict_valid,
    output wire [`FT_ERROR_CODE_WIDTH-1:0]         m_verdict_error,
    output wire [`FT_TXD_LEN_WIDTH-1:0]            m_verdict_len,
    output wire                                    m_verdict_ip_csum,
    output wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        m_verdict_l4_csum,
    output wire                                    m_verdict_tso,
    output wire [`FT_TXD_MSS_WIDTH-1:0]            m_verdict_mss,
    output wire [`FT_TXD_L2_LEN_WIDTH-1:0]         m_verdict_l2_len,
    output wire [`FT_TXD_L3_LEN_WIDTH-1:0]         m_verdict_l3_len,
    output wire [`FT_TXD_L4_LEN_WIDTH-1:0]         m_verdict_l4_len
);

localparam KEEP_WIDTH = DATA_WIDTH / 8;
localparam LANE_BITS = $clog2(KEEP_WIDTH);
// Offsets handled: every header byte the checks read lies below 2^18.
localparam OFF_WIDTH = 18;
// Beat counter: the decision always falls within the first beats (byte 136 at most).
localparam BEAT_WIDTH = OFF_WIDTH - LANE_BITS;

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (MAX_FRAME_LEN < 60 || MAX_FRAME_LEN > 65535) begin
        $display("Error: MAX_FRAME_LEN must be 60..65535 (instance %m)");
        $finish;
    end
    if (MAX_TSO_PAYLOAD < 1 || MAX_TSO_PAYLOAD > 262143) begin
        $display("Error: MAX_TSO_PAYLOAD must be 1..262143 (instance %m)");
        $finish;
    end
end

localparam [`FT_L4_CSUM_WIDTH-1:0] L4_NONE = `FT_L4_CSUM_NONE;
localparam [`FT_L4_CSUM_WIDTH-1:0] L4_TCP = `FT_L4_CSUM_TCP;
localparam [`FT_L4_CSUM_WIDTH-1:0] L4_UDP = `FT_L4_CSUM_UDP;
localparam [31:0] MIN_L2 = `FT_MIN_L2_LEN;
localparam [31:0] MAX_L2 = `FT_MAX_L2_LEN;
localparam [31:0] MIN_L3 = `FT_MIN_L3_LEN;
localparam [31:0] MAX_L3 = `FT_MAX_L3_LEN;
localparam [31:0] MIN_TCP = `FT_MIN_TCP_LEN;
localparam [31:0] MAX_TCP = `FT_MAX_TCP_LEN;
localparam [31:0] UDP_LEN = `FT_UDP_LEN;
localparam [31:0] PROTO_TCP = `FT_IPPROTO_TCP;
localparam [31:0] PROTO_UDP = `FT_IPPROTO_UDP;
localparam [31:0] IPV4_VERSION = `FT_IPV4_VERSION;
localparam [31:0] MAX_FRAME_LEN_BOUND = MAX_FRAME_LEN;
localparam [31:0] MAX_TSO_PAYLOAD_BOUND = MAX_TSO_PAYLOAD;

// Frame tracking
reg first_reg = 1'b1;
reg decided_reg = 1'b0;
reg [BEAT_WIDTH-1:0] beat_reg = {BEAT_WIDTH{1'b0}};

// Request latched at the first beat
reg [`FT_TXD_LEN_WIDTH-1:0] len_reg = 0;
reg ip_reg = 1'b0;
reg [`FT_TXD_L4_CSUM_WIDTH-1:0] l4_reg = 0;
reg tso_reg = 1'b0;
reg [`FT_TXD_MSS_WIDTH-1:0] mss_reg = 0;
reg [`FT_TXD_L2_LEN_WIDTH-1:0] l2_reg = 0;
reg [`FT_TXD_L3_LEN_WIDTH-1:0] l3_reg = 0;
reg [`FT_TXD_L4_LEN_WIDTH-1:0] l4len_reg = 0;

// Header bytes captured as they pass
reg [7:0] vihl_reg = 8'd0;
reg [7:0] proto_reg = 8'd0;
reg [3:0] doff_reg = 4'd0;

// Verdict outputs
reg verdict_valid_reg = 1'b0;
reg [`FT_ERROR_CODE_WIDTH-1:0] verdict_error_reg = 0;

wire beat_fire = s_axis_tvalid && s_axis_tready;
wire [BEAT_WIDTH-1:0] beat = first_reg ? {BEAT_WIDTH{1'b0}} : beat_reg;

// The request of the frame in flight: the sideband on its first beat, the latch afterwards.
wire [31:0] len = first_reg ? s_axis_req_len : len_reg;
wire ip = first_reg ? s_axis_req_ip_csum : ip_reg;
wire [`FT_TXD_L4_CSUM_WIDTH-1:0] l4 = first_reg ? s_axis_req_l4_csum : l4_reg;
wire tso = first_reg ? s_axis_req_tso : tso_reg;
wire [`FT_TXD_MSS_WIDTH-1:0] mss = first_reg ? s_axis_req_mss : mss_reg;
wire [`FT_TXD_L2_LEN_WIDTH-1:0] l2 = first_reg ? s_axis_req_l2_len : l2_reg;
wire [`FT_TXD_L3_LEN_WIDTH-1:0] l3 = first_reg ? s_axis_req_l3_len : l3_reg;
wire [`FT_TXD_L4_LEN_WIDTH-1:0] l4len = first_reg ? s_axis_req_l4_len : l4len_reg;

wire [31:0] l2_32 = {{(32-`FT_TXD_L2_LEN_WIDTH){1'b0}}, l2};
wire [31:0] l3_32 = {{(32-`FT_TXD_L3_LEN_WIDTH){1'b0}}, l3};
wire [31:0] l4len_32 = {{(32-`FT_TXD_L4_LEN_WIDTH){1'b0}}, l4len};
wire [31:0] mss_32 = {{(32-`FT_TXD_MSS_WIDTH){1'b0}}, mss};
wire [31:0] max_frame_32 = ({16'd0, cfg_max_frame_len} < MAX_FRAME_LEN_BOUND)
    ? {16'd0, cfg_max_frame_len} : MAX_FRAME_LEN_BOUND;
wire [31:0] max_tso_32 = (cfg_max_tso_payload < MAX_TSO_PAYLOAD_BOUND)
    ? cfg_max_tso_payload : MAX_TSO_PAYLOAD_BOUND;

// Checks that need only the sideband: C1 (reserved L4 type), F1-F5.
wire l4_reserved = l4 != L4_NONE && l4 != L4_TCP && l4 != L4_UDP;
wire wants_l4 = l4 != L4_NONE;
wire f1_fail = len < MIN_L2;
wire f2_fail = (ip && !cfg_cap_tx_ipv4_csum)
            || (l4 == L4_TCP && !cfg_cap_tx_tcp_csum)
            || (l4 == L4_UDP && !cfg_cap_tx_udp_csum)
            || (tso && !cfg_cap_tso);
wire f3_fail = tso && !(ip && l4 == L4_TCP);
wire f4_fail = !tso && len > max_frame_32;
wire offload = ip || wants_l4;
wire [31:0] l4_min = tso ? l4len_32 : (l4 == L4_TCP) ? MIN_TCP : (l4 == L4_UDP) ? UDP_LEN : 32'd0;
wire [31:0] hdr_min = l2_32 + l3_32 + l4_min;
wire f5_fail = !(l2_32 >= MIN_L2 && l2_32 <= MAX_L2
              && l3_32 >= MIN_L3 && l3_32 <= MAX_L3 && l3_32[1:0] == 2'b00
              && (!tso || (l4len_32 >= MIN_TCP && l4len_32 <= MAX_TCP && l4len_32[1:0] == 2'b00))
              && hdr_min <= len);
wire early_done = l4_reserved || f1_fail || f2_fail || f3_fail || f4_fail || !offload || f5_fail;

// Header bytes read by F6, F7 and F10, and the offset of the last of them.
wire [OFF_WIDTH-1:0] vihl_off = l2_32[OFF_WIDTH-1:0];
wire [OFF_WIDTH-1:0] proto_off = l2_32[OFF_WIDTH-1:0] + `FT_IPV4_PROTO_OFFSET;
wire [OFF_WIDTH-1:0] doff_off = l2_32[OFF_WIDTH-1:0] + l3_32[OFF_WIDTH-1:0] + `FT_TCP_DOFF_OFFSET;
wire [BEAT_WIDTH-1:0] need_beat = early_done ? {BEAT_WIDTH{1'b0}}
    : tso ? doff_off[OFF_WIDTH-1:LANE_BITS] : proto_off[OFF_WIDTH-1:LANE_BITS];

wire vihl_here = beat == vihl_off[OFF_WIDTH-1:LANE_BITS];
wire proto_here = beat == proto_off[OFF_WIDTH-1:LANE_BITS];
wire doff_here = beat == doff_off[OFF_WIDTH-1:LANE_BITS];
wire [7:0] vihl_lane = s_axis_tdata[vihl_off[LANE_BITS-1:0]*8 +: 8];
wire [7:0] proto_lane = s_axis_tdata[proto_off[LANE_BITS-1:0]*8 +: 8];
wire [3:0] doff_lane = s_axis_tdata[doff_off[LANE_BITS-1:0]*8 + 4 +: 4];
wire [7:0] vihl = vihl_here ? vihl_lane : vihl_reg;
wire [7:0] proto = proto_here ? proto_lane : proto_reg;
wire [3:0] doff = doff_here ? doff_lane : doff_reg;

wire decide = beat_fire && !decided_reg
           && (s_axis_tlast || beat == need_beat);

// F6-F10
wire f6_fail = {28'd0, vihl[7:4]} != IPV4_VERSION || {26'd0, vihl[3:0], 2'b00} != l3_32;
wire f7_fail = (l4 == L4_TCP && {24'd0, proto} != PROTO_TCP)
            || (l4 == L4_UDP && {24'd0, proto} != PROTO_UDP);
wire [31:0] hdr_len = l2_32 + l3_32 + l4len_32;
wire f8_fail = mss_32 < {16'd0, cfg_min_mss} || mss_32 > {16'd0, cfg_max_mss} || mss_32 == 32'd0
            || hdr_len + mss_32 > max_frame_32;
wire [31:0] payload = len - hdr_len;
wire f9_fail = payload == 32'd0 || payload > max_tso_32;
wire f10_fail = {26'd0, doff, 2'b00} != l4len_32;

reg [`FT_ERROR_CODE_WIDTH-1:0] error;
always @* begin
    if (l4_reserved) begin
        error = `FT_ERROR_CODE_BAD_FLAGS;
    end else if (f1_fail) begin
        error = `FT_ERROR_CODE_BAD_LENGTH;
    end else if (f2_fail) begin
        error = `FT_ERROR_CODE_UNSUPPORTED_OFFLOAD;
    end else if (f3_fail) begin
        error = `FT_ERROR_CODE_BAD_FLAGS;
    end else if (f4_fail) begin
        error = `FT_ERROR_CODE_BAD_LENGTH;
    end else if (!offload) begin
        error = `FT_ERROR_CODE_NONE;
    end else if (f5_fail) begin
        error = `FT_ERROR_CODE_HEADER_LENGTHS;
    end else if (f6_fail) begin
        error = `FT_ERROR_CODE_NOT_IPV4;
    end else if (f7_fail) begin
        error = `FT_ERROR_CODE_L4_PROTOCOL;
    end else if (!tso) begin
        error = `FT_ERROR_CODE_NONE;
    end else if (f8_fail) begin
        error = `FT_ERROR_CODE_TSO_BAD_MSS;
    end else if (f9_fail) begin
        error = `FT_ERROR_CODE_TSO_BAD_PAYLOAD;
    end else if (f10_fail) begin
        error = `FT_ERROR_CODE_TSO_TCP_HEADER;
    end else begin
        error = `FT_ERROR_CODE_NONE;
    end
end

always @(posedge clk) begin
    verdict_valid_reg <= 1'b0;
    if (beat_fire) begin
        first_reg <= s_axis_tlast;
        beat_reg <= beat + 1'b1;
        if (first_reg) begin
            len_reg <= s_axis_req_len;
            ip_reg <= s_axis_req_ip_csum;
            l4_reg <= s_axis_req_l4_csum;
            tso_reg <= s_axis_req_tso;
            mss_reg <= s_axis_req_mss;
            l2_reg <= s_axis_req_l2_len;
            l3_reg <= s_axis_req_l3_len;
            l4len_reg <= s_axis_req_l4_len;
        end
        if (vihl_here) begin
            vihl_reg <= vihl_lane;
        end
        if (proto_here) begin
            proto_reg <= proto_lane;
        end
        if (doff_here) begin
            doff_reg <= doff_lane;
        end
        if (decide) begin
            verdict_valid_reg <= 1'b1;
            verdict_error_reg <= error;
            decided_reg <= !s_axis_tlast;
        end else if (s_axis_tlast) begin
            decided_reg <= 1'b0;
        end
    end
    if (rst) begin
        first_reg <= 1'b1;
        decided_reg <= 1'b0;
        verdict_valid_reg <= 1'b0;
    end
end

assign m_verdict_valid = verdict_valid_reg;
assign m_verdict_error = verdict_error_reg;
assign m_verdict_len = len_reg;
assign m_verdict_ip_csum = ip_reg;
assign m_verdict_l4_csum = l4_reg;
assign m_verdict_tso = tso_reg;
assign m_verdict_mss = mss_reg;
assign m_verdict_l2_len = l2_reg;
assign m_verdict_l3_len = l3_reg;
assign m_verdict_l4_len = l4len_reg;

endmodule

`resetall
