// ft_tso: TCP segmentation offload and request dispatch of the TX path (hw-spec SPEC.md 6.3).
//
// Owns: turning each validated TX request into the wire frames it asks for, in request order,
// and one status per request:
// - an invalid request (verdict error != NONE) is consumed and dropped: no frame, error status;
// - a request without TSO passes through beat for beat (cut-through, no added bubbles), its
//   offload fields forwarded as frame sideband to the checksum engine (ft_tx_csum);
// - a TSO request (header of H = L2+L3+L4 bytes plus P payload bytes) becomes ceil(P/MSS)
//   segments, each a copy of the header with exactly the spec's rewrites (IPv4 total length,
//   IPv4 ID + i, TCP sequence + i*MSS, TCP flags & the first/middle/last mask) followed by its
//   payload slice. Both checksums are left to ft_tx_csum (sideband IP_CSUM=1, L4=TCP), which
//   is what makes segmentation cut-through: a segment leaves as soon as its payload has arrived,
//   with no request-sized buffer.
//
// Datapath: the header beats are kept in registers (HDR_MAX = 184 bytes); payload bytes are
// realigned from a two-beat window of the input with one barrel shift per output beat (the
// shift is constant within a segment: (i*MSS) mod W). Output beat k of segment i carries segment
// bytes [kW, kW+W): bytes below H from the header registers, the rest from input offset
// s + i*MSS. One output beat per cycle whenever the input keeps up.
//
// Interfaces: s_axis_* is the request's gathered frame; s_req_* the verdict of ft_tx_validate
// with the request fields (one entry per frame, taken when the frame starts). s_req_len must be
// the frame's byte count and tlast must sit on its last beat (the queue engine guarantees it).
// m_axis_* carries wire frames with per-frame sideband (m_axis_ip_csum, m_axis_l4_csum,
// m_axis_l2_len, m_axis_l3_len: constant over the frame). m_status_* gives one entry per request.
// Must not: compute checksums (ft_tx_csum's), or judge requests (ft_tx_validate's).
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"
`include "ft_proto.vh"

module ft_tso #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Largest TSO payload accepted upstream (sizes the offset counters).
    parameter MAX_TSO_PAYLOAD = 65535,
    // Derived, do not override: bytes per beat.
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    // CONTROL.TSO_FLAGS_FIRST / MIDDLE / LAST
    input  wire [`FT_CONTROL_TSO_FLAGS_FIRST_FLAGS_WIDTH-1:0]  cfg_tso_flags_first,
    input  wire [`FT_CONTROL_TSO_FLAGS_MIDDLE_FLAGS_WIDTH-1:0] cfg_tso_flags_middle,
    input  wire [`FT_CONTROL_TSO_FLAGS_LAST_FLAGS_WIDTH-1:0]   cfg_tso_flags_last,

    // Request frames
    input  wire [DATA_WIDTH-1:0]                   s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_axis_tkeep,
    input  wire                                    s_axis_tvalid,
    output wire                                    s_axis_tready,
    input  wire                                    s_axis_tlast,

    // Verdicts with request fields, one per frame
    input  wire                                    s_req_valid,
    output wire                                    s_req_ready,
    input  wire [`FT_ERROR_CODE_WIDTH-1:0]         s_req_error,
    input  wire [`FT_TXD_LEN_WIDTH-1:0]            s_req_len,
    input  wire                                    s_req_ip_csum,
    input  wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        s_req_l4_csum,
    input  wire                                    s_req_tso,
    input  wire [`FT_TXD_MSS_WIDTH-1:0]            s_req_mss,
    input  wire [`FT_TXD_L2_LEN_WIDTH-1:0]         s_req_l2_len,
    input  wire [`FT_TXD_L3_LEN_WIDTH-1:0]         s_req_l3_len,
    input  wire [`FT_TXD_L4_LEN_WIDTH-1:0]         s_req_l4_len,

    // Wire frames with checksum requests as sideband
    output wire [DATA_WIDTH-1:0]                   m_axis_tdata,
    output wire [KEEP_WIDTH-1:0]                   m_axis_tkeep,
    output wire                                    m_axis_tvalid,
    input  wire                                    m_axis_tready,
    output wire                                    m_axis_tlast,
    output wire                                    m_axis_ip_csum,
    output wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        m_axis_l4_csum,
    output wire [`FT_TXD_L2_LEN_WIDTH-1:0]         m_axis_l2_len,
    output wire [`FT_TXD_L3_LEN_WIDTH-1:0]         m_axis_l3_len,

    // One status per request
    output wire                                    m_status_valid,
    input  wire                                    m_status_ready,
    output wire [`FT_ERROR_CODE_WIDTH-1:0]         m_status_error,
    output wire [`FT_CPL_SEGMENTS_WIDTH-1:0]       m_status_segments,
    output wire                                    m_status_checksummed,
    output wire [15:0]                             m_status_header_len,
    output wire [`FT_TXD_LEN_WIDTH-1:0]            m_status_payload_len
);

localparam LANE_BITS = $clog2(KEEP_WIDTH);
localparam HDR_MAX = `FT_MAX_L2_LEN + `FT_MAX_L3_LEN + `FT_MAX_TCP_LEN;
localparam HDR_BEATS = (HDR_MAX + KEEP_WIDTH - 1) / KEEP_WIDTH;
localparam HB_BITS = $clog2(HDR_BEATS);
// Input offsets: header, payload, and one beat of look-ahead past the end.
localparam OFF_BITS = $clog2(HDR_MAX + MAX_TSO_PAYLOAD + 2 * KEEP_WIDTH + 1);
// At least 17 bits: wide enough for the 16-bit L3_LEN field of a request being loaded.
localparam OFF_WIDTH = OFF_BITS > 17 ? OFF_BITS : 17;
localparam BEAT_WIDTH = OFF_WIDTH - LANE_BITS;
localparam SEG_WIDTH = `FT_TXD_MSS_WIDTH;
localparam FLAGS_WIDTH = `FT_TCP_FLAGS_WIDTH;

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (KEEP_WIDTH * 8 != DATA_WIDTH) begin
        $display("Error: KEEP_WIDTH is derived; do not override it (instance %m)");
        $finish;
    end
    if (MAX_TSO_PAYLOAD < 1 || MAX_TSO_PAYLOAD > 262143) begin
        $display("Error: MAX_TSO_PAYLOAD must be 1..262143 (instance %m)");
        $finish;
    end
end

localparam [2:0] MODE_IDLE = 3'd0;
localparam [2:0] MODE_PASS = 3'd1;
localparam [2:0] MODE_DROP = 3'd2;
localparam [2:0] MODE_TSO = 3'd3;
localparam [2:0] MODE_DRAIN = 3'd4;

localparam [`FT_TXD_L4_CSUM_WIDTH-1:0] L4_NONE = `FT_L4_CSUM_NONE;
localparam [`FT_TXD_L4_CSUM_WIDTH-1:0] L4_TCP = `FT_L4_CSUM_TCP;
localparam [`FT_ERROR_CODE_WIDTH-1:0] ERR_NONE = `FT_ERROR_CODE_NONE;

// ---- Request state ----
reg [2:0] mode_reg = MODE_IDLE, mode_next;
reg [`FT_ERROR_CODE_WIDTH-1:0] err_reg = ERR_NONE, err_next;
reg ip_reg = 1'b0, ip_next;
reg [`FT_TXD_L4_CSUM_WIDTH-1:0] l4_reg = L4_NONE, l4_next;
reg [`FT_TXD_L2_LEN_WIDTH-1:0] l2_reg = 0, l2_next;
reg [`FT_TXD_L3_LEN_WIDTH-1:0] l3_reg = 0, l3_next;
reg [`FT_TXD_L4_LEN_WIDTH-1:0] l4len_reg = 0, l4len_next;
reg [SEG_WIDTH-1:0] mss_reg = 0, mss_next;
reg [OFF_WIDTH-1:0] hlen_reg = 0, hlen_next;            // H
reg [`FT_TXD_LEN_WIDTH-1:0] len_reg = 0, len_next;     // H + P

// ---- Segment state (TSO) ----
reg [SEG_WIDTH-1:0] seg_idx_reg = 0, seg_idx_next;      // i
reg [OFF_WIDTH-1:0] delta_reg = 0, delta_next;          // i * MSS
reg [OFF_WIDTH-1:0] rem_reg = 0, rem_next;              // payload bytes from this segment on
reg [OFF_WIDTH-1:0] seg_len_reg = 0, seg_len_next;      // payload bytes of this segment
reg [BEAT_WIDTH-1:0] k_reg = 0, k_next;                 // output beat within the segment
reg [OFF_WIDTH-1:0] need_reg = 0, need_next;            // input offset of the next payload byte

// ---- Input window (TSO) ----
reg [DATA_WIDTH-1:0] win0_reg = 0, win0_next;           // input beat jb
reg [DATA_WIDTH-1:0] win1_reg = 0, win1_next;           // input beat jb + 1
reg v0_reg = 1'b0, v0_next;
reg v1_reg = 1'b0, v1_next;
reg [BEAT_WIDTH-1:0] jb_reg = 0, jb_next;
reg [BEAT_WIDTH-1:0] in_beat_reg = 0, in_beat_next;     // index of the next input beat
reg in_done_reg = 1'b0, in_done_next;                   // tlast taken

// ---- Header registers and captured fields (TSO) ----
reg [DATA_WIDTH-1:0] hdr_mem [0:(1<<HB_BITS)-1];
reg [7:0] cap_reg [0:7];
// Capture positions: IPv4 ID (2), TCP sequence (4), TCP NS byte, TCP flags byte.
reg [OFF_WIDTH-1:0] cap_pos_reg [0:7];

// ---- Output ----
reg [DATA_WIDTH-1:0] m_tdata_reg = 0, m_tdata_next;
reg [KEEP_WIDTH-1:0] m_tkeep_reg = 0, m_tkeep_next;
reg m_tvalid_reg = 1'b0, m_tvalid_next;
reg m_tlast_reg = 1'b0, m_tlast_next;
reg m_ip_reg = 1'b0, m_ip_next;
reg [`FT_TXD_L4_CSUM_WIDTH-1:0] m_l4_reg = L4_NONE, m_l4_next;
reg [`FT_TXD_L2_LEN_WIDTH-1:0] m_l2_reg = 0, m_l2_next;
reg [`FT_TXD_L3_LEN_WIDTH-1:0] m_l3_reg = 0, m_l3_next;

reg stat_valid_reg = 1'b0, stat_valid_next;
reg [`FT_ERROR_CODE_WIDTH-1:0] stat_error_reg = ERR_NONE, stat_error_next;
reg [`FT_CPL_SEGMENTS_WIDTH-1:0] stat_segments_reg = 0, stat_segments_next;
reg stat_csum_reg = 1'b0, stat_csum_next;
reg [15:0] stat_hlen_reg = 0, stat_hlen_next;
reg [`FT_TXD_LEN_WIDTH-1:0] stat_plen_reg = 0, stat_plen_next;

reg s_axis_tready_int;
reg s_req_ready_int;
reg intake;          // an input beat enters the TSO window this cycle

wire out_ok = !m_tvalid_reg || m_axis_tready;
wire stat_ok = !stat_valid_reg || m_status_ready;

// ---- TSO output beat, combinational from the registers ----
localparam [31:0] KEEP_WIDTH_32 = KEEP_WIDTH;
localparam [OFF_WIDTH-1:0] W_OFF = KEEP_WIDTH_32[OFF_WIDTH-1:0];
localparam [31:0] HDR_BEATS_32 = HDR_BEATS;
wire [OFF_WIDTH-1:0] kw = {k_reg, {LANE_BITS{1'b0}}};
wire [OFF_WIDTH-1:0] frame_len = hlen_reg + seg_len_reg;             // this segment's frame
wire has_hdr = kw < hlen_reg;
wire has_pay = kw + W_OFF > hlen_reg;
wire seg_last_beat = kw + W_OFF >= frame_len;
wire last_seg = rem_reg <= {{(OFF_WIDTH-SEG_WIDTH){1'b0}}, mss_reg};
wire [OFF_WIDTH-1:0] hi = (seg_last_beat ? frame_len : kw + W_OFF) - 1'b1 + delta_reg;
wire [BEAT_WIDTH-1:0] need_beat = need_reg[OFF_WIDTH-1:LANE_BITS];
wire [BEAT_WIDTH-1:0] hi_beat = hi[OFF_WIDTH-1:LANE_BITS];
wire hdr_ok = in_done_reg || {in_beat_reg, {LANE_BITS{1'b0}}} >= hlen_reg;
wire window_ok = !has_pay
    || (v0_reg && jb_reg == need_beat && (hi_beat == jb_reg || (v1_reg && hi_beat == jb_reg + 1'b1)));
wire tso_emit = mode_reg == MODE_TSO && out_ok && (!has_hdr || hdr_ok) && window_ok
    && !(seg_last_beat && last_seg && in_done_reg && !stat_ok);

// Payload lanes: window bytes from input offset x = kW + i*MSS, relative to beat jb - 1.
// (kW + i*MSS + W - jb*W) mod 2W, in bytes: always within [1, 2W) where payload is needed.
wire [LANE_BITS:0] shift = {delta_reg[LANE_BITS] ^ k_reg[0] ^ jb_reg[0] ^ 1'b1,
                            delta_reg[LANE_BITS-1:0]};
wire [3*DATA_WIDTH-1:0] window3 = {win1_reg, win0_reg, {DATA_WIDTH{1'b0}}};
wire [DATA_WIDTH-1:0] pay_data = window3[{1'b0, shift, 3'b000} +: DATA_WIDTH];

// Header lanes with the per-segment rewrites.
wire [15:0] ip_id0 = {cap_reg[0], cap_reg[1]};
wire [31:0] seq0 = {cap_reg[2], cap_reg[3], cap_reg[4], cap_reg[5]};
wire [FLAGS_WIDTH-1:0] flags0 = {cap_reg[6][0], cap_reg[7]};
wire [15:0] seg_total_len = {{(16-`FT_TXD_L3_LEN_WIDTH){1'b0}}, l3_reg}
                          + {{(16-`FT_TXD_L4_LEN_WIDTH){1'b0}}, l4len_reg} + seg_len_reg[15:0];
wire [15:0] seg_ip_id = ip_id0 + seg_idx_reg;
wire [31:0] delta_32 = {{(32-OFF_WIDTH){1'b0}}, delta_reg};
wire [31:0] seg_seq = seq0 + delta_32;
wire seg_first = seg_idx_reg == 0;
wire [FLAGS_WIDTH-1:0] seg_mask = (seg_first && last_seg) ? (cfg_tso_flags_first | cfg_tso_flags_last)
                               : seg_first ? cfg_tso_flags_first
                               : last_seg ? cfg_tso_flags_last
                               : cfg_tso_flags_middle;
wire [FLAGS_WIDTH-1:0] seg_flags = flags0 & seg_mask;
wire [OFF_WIDTH-1:0] pos_tl = {{(OFF_WIDTH-`FT_TXD_L2_LEN_WIDTH){1'b0}}, l2_reg} + `FT_IPV4_TOTAL_LEN_OFFSET;
wire [DATA_WIDTH-1:0] hdr_beat = hdr_mem[k_reg[HB_BITS-1:0]];

reg [DATA_WIDTH-1:0] tso_data;
reg [KEEP_WIDTH-1:0] tso_keep;
integer b;
always @* begin : tso_lanes
    reg [OFF_WIDTH-1:0] s;
    reg [7:0] byte_val;
    for (b = 0; b < KEEP_WIDTH; b = b + 1) begin
        s = kw + b[OFF_WIDTH-1:0];
        if (s < hlen_reg) begin
            byte_val = hdr_beat[8*b +: 8];
            if (s == pos_tl) byte_val = seg_total_len[15:8];
            if (s == pos_tl + 1'b1) byte_val = seg_total_len[7:0];
            if (s == cap_pos_reg[0]) byte_val = seg_ip_id[15:8];
            if (s == cap_pos_reg[1]) byte_val = seg_ip_id[7:0];
            if (s == cap_pos_reg[2]) byte_val = seg_seq[31:24];
            if (s == cap_pos_reg[3]) byte_val = seg_seq[23:16];
            if (s == cap_pos_reg[4]) byte_val = seg_seq[15:8];
            if (s == cap_pos_reg[5]) byte_val = seg_seq[7:0];
            if (s == cap_pos_reg[6]) byte_val = {byte_val[7:1], seg_flags[8]};
            if (s == cap_pos_reg[7]) byte_val = seg_flags[7:0];
        end else begin
            byte_val = pay_data[8*b +: 8];
        end
        tso_data[8*b +: 8] = byte_val;
        tso_keep[b] = s < frame_len;
    end
end

// ---- Next state ----
always @* begin : next_state
    reg finish;
    reg load;
    reg drop;
    reg a0, a1;
    reg [BEAT_WIDTH-1:0] jb_after;
    reg [OFF_WIDTH-1:0] p_len;
    reg [OFF_WIDTH-1:0] h_len;

    mode_next = mode_reg;
    err_next = err_reg;
    ip_next = ip_reg;
    l4_next = l4_reg;
    l2_next = l2_reg;
    l3_next = l3_reg;
    l4len_next = l4len_reg;
    mss_next = mss_reg;
    hlen_next = hlen_reg;
    len_next = len_reg;
    seg_idx_next = seg_idx_reg;
    delta_next = delta_reg;
    rem_next = rem_reg;
    seg_len_next = seg_len_reg;
    k_next = k_reg;
    need_next = need_reg;
    win0_next = win0_reg;
    win1_next = win1_reg;
    v0_next = v0_reg;
    v1_next = v1_reg;
    jb_next = jb_reg;
    in_beat_next = in_beat_reg;
    in_done_next = in_done_reg;

    m_tdata_next = m_tdata_reg;
    m_tkeep_next = m_tkeep_reg;
    m_tvalid_next = m_tvalid_reg && !m_axis_tready;
    m_tlast_next = m_tlast_reg;
    m_ip_next = m_ip_reg;
    m_l4_next = m_l4_reg;
    m_l2_next = m_l2_reg;
    m_l3_next = m_l3_reg;

    stat_valid_next = stat_valid_reg && !m_status_ready;
    stat_error_next = stat_error_reg;
    stat_segments_next = stat_segments_reg;
    stat_csum_next = stat_csum_reg;
    stat_hlen_next = stat_hlen_reg;
    stat_plen_next = stat_plen_reg;

    s_axis_tready_int = 1'b0;
    h_len = {OFF_WIDTH{1'b0}};
    p_len = {OFF_WIDTH{1'b0}};
    finish = 1'b0;
    intake = 1'b0;
    drop = 1'b0;
    a0 = v0_reg;
    a1 = v1_reg;
    jb_after = jb_reg;

    case (mode_reg)
        MODE_PASS: begin
            s_axis_tready_int = out_ok && !(s_axis_tlast && !stat_ok);
            if (s_axis_tvalid && s_axis_tready_int) begin
                m_tdata_next = s_axis_tdata;
                m_tkeep_next = s_axis_tkeep;
                m_tvalid_next = 1'b1;
                m_tlast_next = s_axis_tlast;
                m_ip_next = ip_reg;
                m_l4_next = l4_reg;
                m_l2_next = l2_reg;
                m_l3_next = l3_reg;
                finish = s_axis_tlast;
            end
        end
        MODE_DROP, MODE_DRAIN: begin
            s_axis_tready_int = !(s_axis_tlast && !stat_ok);
            finish = s_axis_tvalid && s_axis_tlast && stat_ok;
        end
        MODE_TSO: begin
            if (tso_emit) begin
                m_tdata_next = tso_data;
                m_tkeep_next = tso_keep;
                m_tvalid_next = 1'b1;
                m_tlast_next = seg_last_beat;
                m_ip_next = 1'b1;
                m_l4_next = L4_TCP;
                m_l2_next = l2_reg;
                m_l3_next = l3_reg;
                if (has_pay) begin
                    need_next = hi + 1'b1;
                end
                if (seg_last_beat) begin
                    k_next = {BEAT_WIDTH{1'b0}};
                    seg_idx_next = seg_idx_reg + 1'b1;
                    delta_next = delta_reg + {{(OFF_WIDTH-SEG_WIDTH){1'b0}}, mss_reg};
                    rem_next = rem_reg - seg_len_reg;
                    seg_len_next = (rem_next < {{(OFF_WIDTH-SEG_WIDTH){1'b0}}, mss_reg})
                        ? rem_next : {{(OFF_WIDTH-SEG_WIDTH){1'b0}}, mss_reg};
                    if (last_seg) begin
                        if (in_done_reg) begin
                            finish = 1'b1;
                        end else begin
                            mode_next = MODE_DRAIN;
                        end
                    end
                end else begin
                    k_next = k_reg + 1'b1;
                end
            end
            // Window: drop beat jb once no byte of it is needed any more, then take a beat.
            drop = v0_reg && jb_reg < need_next[OFF_WIDTH-1:LANE_BITS];
            if (drop) begin
                a0 = v1_reg;
                a1 = 1'b0;
                jb_after = jb_reg + 1'b1;
                win0_next = win1_reg;
            end
            v0_next = a0;
            v1_next = a1;
            jb_next = jb_after;
            s_axis_tready_int = !in_done_reg && !(a0 && a1);
            if (s_axis_tvalid && s_axis_tready_int) begin
                intake = 1'b1;
                in_beat_next = in_beat_reg + 1'b1;
                in_done_next = s_axis_tlast;
                if (!a0) begin
                    win0_next = s_axis_tdata;
                    v0_next = 1'b1;
                    jb_next = in_beat_reg;
                end else begin
                    win1_next = s_axis_tdata;
                    v1_next = 1'b1;
                end
            end
        end
        default: begin
        end
    endcase

    if (finish) begin
        stat_valid_next = 1'b1;
        stat_error_next = err_reg;
        stat_segments_next = (mode_reg == MODE_DROP) ? {`FT_CPL_SEGMENTS_WIDTH{1'b0}}
                           : (mode_reg == MODE_PASS) ? {{(`FT_CPL_SEGMENTS_WIDTH-1){1'b0}}, 1'b1}
                           : seg_idx_reg + 1'b1;
        stat_csum_next = err_reg == ERR_NONE && (ip_reg || l4_reg != L4_NONE);
        stat_hlen_next = (mode_reg == MODE_PASS || mode_reg == MODE_DROP) ? 16'd0 : hlen_reg[15:0];
        stat_plen_next = (mode_reg == MODE_PASS || mode_reg == MODE_DROP) ? {`FT_TXD_LEN_WIDTH{1'b0}}
                       : len_reg - {{(`FT_TXD_LEN_WIDTH-OFF_WIDTH){1'b0}}, hlen_reg};
        mode_next = MODE_IDLE;
    end

    s_req_ready_int = mode_reg == MODE_IDLE || finish;
    load = s_req_valid && s_req_ready_int;
    if (load) begin
        h_len = {{(OFF_WIDTH-`FT_TXD_L2_LEN_WIDTH){1'b0}}, s_req_l2_len}
              + {{(OFF_WIDTH-`FT_TXD_L3_LEN_WIDTH){1'b0}}, s_req_l3_len}
              + {{(OFF_WIDTH-`FT_TXD_L4_LEN_WIDTH){1'b0}}, s_req_l4_len};
        p_len = s_req_len[OFF_WIDTH-1:0] - h_len;
        err_next = s_req_error;
        ip_next = s_req_ip_csum;
        l4_next = s_req_l4_csum;
        l2_next = s_req_l2_len;
        l3_next = s_req_l3_len;
        l4len_next = s_req_l4_len;
        mss_next = s_req_mss;
        hlen_next = h_len;
        len_next = s_req_len;
        seg_idx_next = {SEG_WIDTH{1'b0}};
        delta_next = {OFF_WIDTH{1'b0}};
        rem_next = p_len;
        seg_len_next = (p_len < {{(OFF_WIDTH-SEG_WIDTH){1'b0}}, s_req_mss})
            ? p_len : {{(OFF_WIDTH-SEG_WIDTH){1'b0}}, s_req_mss};
        k_next = {BEAT_WIDTH{1'b0}};
        need_next = h_len;
        v0_next = 1'b0;
        v1_next = 1'b0;
        jb_next = {BEAT_WIDTH{1'b0}};
        in_beat_next = {BEAT_WIDTH{1'b0}};
        in_done_next = 1'b0;
        if (s_req_error != ERR_NONE) begin
            mode_next = MODE_DROP;
        end else if (s_req_tso) begin
            mode_next = MODE_TSO;
        end else begin
            mode_next = MODE_PASS;
        end
    end
end

// Capture positions of the request being loaded.
wire [OFF_WIDTH-1:0] load_l2 = {{(OFF_WIDTH-`FT_TXD_L2_LEN_WIDTH){1'b0}}, s_req_l2_len};
wire [OFF_WIDTH-1:0] load_l4 = load_l2 + {{(OFF_WIDTH-`FT_TXD_L3_LEN_WIDTH){1'b0}}, s_req_l3_len};

integer c;
always @(posedge clk) begin
    mode_reg <= mode_next;
    err_reg <= err_next;
    ip_reg <= ip_next;
    l4_reg <= l4_next;
    l2_reg <= l2_next;
    l3_reg <= l3_next;
    l4len_reg <= l4len_next;
    mss_reg <= mss_next;
    hlen_reg <= hlen_next;
    len_reg <= len_next;
    seg_idx_reg <= seg_idx_next;
    delta_reg <= delta_next;
    rem_reg <= rem_next;
    seg_len_reg <= seg_len_next;
    k_reg <= k_next;
    need_reg <= need_next;
    win0_reg <= win0_next;
    win1_reg <= win1_next;
    v0_reg <= v0_next;
    v1_reg <= v1_next;
    jb_reg <= jb_next;
    in_beat_reg <= in_beat_next;
    in_done_reg <= in_done_next;

    m_tdata_reg <= m_tdata_next;
    m_tkeep_reg <= m_tkeep_next;
    m_tvalid_reg <= m_tvalid_next;
    m_tlast_reg <= m_tlast_next;
    m_ip_reg <= m_ip_next;
    m_l4_reg <= m_l4_next;
    m_l2_reg <= m_l2_next;
    m_l3_reg <= m_l3_next;

    stat_valid_reg <= stat_valid_next;
    stat_error_reg <= stat_error_next;
    stat_segments_reg <= stat_segments_next;
    stat_csum_reg <= stat_csum_next;
    stat_hlen_reg <= stat_hlen_next;
    stat_plen_reg <= stat_plen_next;

    // Header beats and the fields the rewrites start from, captured as they enter.
    if (intake) begin
        if ({{(32-BEAT_WIDTH){1'b0}}, in_beat_reg} < HDR_BEATS_32) begin
            hdr_mem[in_beat_reg[HB_BITS-1:0]] <= s_axis_tdata;
        end
        for (c = 0; c < 8; c = c + 1) begin
            if (cap_pos_reg[c][OFF_WIDTH-1:LANE_BITS] == in_beat_reg) begin
                cap_reg[c] <= s_axis_tdata[cap_pos_reg[c][LANE_BITS-1:0]*8 +: 8];
            end
        end
    end
    if (s_req_valid && s_req_ready_int) begin
        cap_pos_reg[0] <= load_l2 + `FT_IPV4_ID_OFFSET;
        cap_pos_reg[1] <= load_l2 + `FT_IPV4_ID_OFFSET + 1;
        cap_pos_reg[2] <= load_l4 + `FT_TCP_SEQ_OFFSET;
        cap_pos_reg[3] <= load_l4 + `FT_TCP_SEQ_OFFSET + 1;
        cap_pos_reg[4] <= load_l4 + `FT_TCP_SEQ_OFFSET + 2;
        cap_pos_reg[5] <= load_l4 + `FT_TCP_SEQ_OFFSET + 3;
        cap_pos_reg[6] <= load_l4 + `FT_TCP_DOFF_OFFSET;
        cap_pos_reg[7] <= load_l4 + `FT_TCP_FLAGS_OFFSET;
    end

    if (rst) begin
        mode_reg <= MODE_IDLE;
        v0_reg <= 1'b0;
        v1_reg <= 1'b0;
        in_done_reg <= 1'b0;
        m_tvalid_reg <= 1'b0;
        stat_valid_reg <= 1'b0;
    end
end

assign s_axis_tready = s_axis_tready_int;
assign s_req_ready = s_req_ready_int;

assign m_axis_tdata = m_tdata_reg;
assign m_axis_tkeep = m_tkeep_reg;
assign m_axis_tvalid = m_tvalid_reg;
assign m_axis_tlast = m_tlast_reg;
assign m_axis_ip_csum = m_ip_reg;
assign m_axis_l4_csum = m_l4_reg;
assign m_axis_l2_len = m_l2_reg;
assign m_axis_l3_len = m_l3_reg;

assign m_status_valid = stat_valid_reg;
assign m_status_error = stat_error_reg;
assign m_status_segments = stat_segments_reg;
assign m_status_checksummed = stat_csum_reg;
assign m_status_header_len = stat_hlen_reg;
assign m_status_payload_len = stat_plen_reg;

endmodule

`resetall
