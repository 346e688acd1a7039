// ft_rx_csum: RX checksum verification and RSS input (hw-spec SPEC.md 7.1 and 7.2).
//
// Owns: the per-frame receive status that lands in the completion: IPv4 header checksum status,
// TCP/UDP checksum status (Good / Bad / None / Unknown, with exactly the rules of 7.1: ethertype,
// structural checks, header checksum, fragments and protocols, L4 length, the UDP zero
// checksum, trailing padding ignored), and the RSS hash input (addresses, plus ports for a TCP or
// UDP non-fragment with at least 4 L4 bytes), its type, and its Toeplitz hash (ft_rss_toeplitz).
//
// Datapath: the engine observes the frame stream at one beat per cycle (it never changes it;
// the device writes the same beats to host memory in parallel). Header fields are taken from the
// beat they arrive in, or from capture registers for later beats, so the byte masks of each beat
// (IP header [14, 14+IHL*4); addresses and L4 bytes [14+IHL*4, 14+total length)) are known in
// the beat itself, at every width. ft_csum_reduce sums both masks; the verdict is formed when the
// last sum leaves the pipeline and queued; a credit counter stops the input before the status
// queue could overflow, so back-to-back frames flow with no idle cycles.
//
// s_axis_tkeep must be contiguous (all ones except on the last beat). Frames longer than
// 2^OFF_WIDTH - DATA_WIDTH/8 bytes (the device drops frames above MAX_FRAME_LEN anyway) get
// unspecified statuses. Must not: steer frames to queues or look up the RSS table (the queue
// engine's), or change frame bytes.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"
`include "ft_proto.vh"

module ft_rx_csum #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Largest frame the device accepts (sizes the offset counters, at least 17 bits).
    parameter MAX_FRAME_LEN = 9216,
    // log2 of the statuses that may wait for the consumer.
    parameter STATUS_ADDR_WIDTH = 4,
    // Derived, do not override: bytes per beat.
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    // CONTROL.CTRL.RX_CSUM_ENABLE and the RSS.KEY words (word 0 in bits 319:288)
    input  wire                                    cfg_csum_enable,
    input  wire [`FT_RSS_KEY_WORDS*32-1:0]         cfg_rss_key,

    input  wire [DATA_WIDTH-1:0]                   s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_axis_tkeep,
    input  wire                                    s_axis_tvalid,
    output wire                                    s_axis_tready,
    input  wire                                    s_axis_tlast,

    output wire                                    m_status_valid,
    input  wire                                    m_status_ready,
    output wire [`FT_CSUM_STATUS_WIDTH-1:0]        m_status_ip_csum,
    output wire [`FT_CSUM_STATUS_WIDTH-1:0]        m_status_l4_csum,
    output wire [`FT_RSS_TYPE_WIDTH-1:0]           m_status_rss_type,
    output wire [95:0]                             m_status_rss_input,
    output wire [`FT_CPL_RSS_HASH_WIDTH-1:0]       m_status_rss_hash,
    output wire [15:0]                             m_status_len
);

localparam LANE_BITS = $clog2(KEEP_WIDTH);
localparam OFF_BITS = $clog2(MAX_FRAME_LEN + 2 * KEEP_WIDTH + 1);
localparam OFF_WIDTH = OFF_BITS > 17 ? OFF_BITS : 17;
localparam BEAT_WIDTH = OFF_WIDTH - LANE_BITS;
localparam STATUS_DEPTH = 1 << STATUS_ADDR_WIDTH;

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (KEEP_WIDTH * 8 != DATA_WIDTH) begin
        $display("Error: KEEP_WIDTH is derived; do not override it (instance %m)");
        $finish;
    end
    if (MAX_FRAME_LEN < 60 || MAX_FRAME_LEN > 65535) begin
        $display("Error: MAX_FRAME_LEN must be 60..65535 (instance %m)");
        $finish;
    end
    if (STATUS_ADDR_WIDTH < 2 || STATUS_ADDR_WIDTH > 10) begin
        $display("Error: STATUS_ADDR_WIDTH must be 2..10 (instance %m)");
        $finish;
    end
end

localparam [31:0] ETHERTYPE_IPV4 = `FT_ETHERTYPE_IPV4;
localparam [31:0] PROTO_TCP = `FT_IPPROTO_TCP;
localparam [31:0] PROTO_UDP = `FT_IPPROTO_UDP;
localparam [31:0] MIN_TCP = `FT_MIN_TCP_LEN;
localparam [31:0] UDP_LEN = `FT_UDP_LEN;
localparam [31:0] UDP_CSUM_OFF = `FT_UDP_CSUM_OFFSET;
localparam [`FT_CSUM_STATUS_WIDTH-1:0] ST_UNKNOWN = `FT_CSUM_STATUS_UNKNOWN;
localparam [`FT_CSUM_STATUS_WIDTH-1:0] ST_GOOD = `FT_CSUM_STATUS_GOOD;
localparam [`FT_CSUM_STATUS_WIDTH-1:0] ST_BAD = `FT_CSUM_STATUS_BAD;
localparam [`FT_CSUM_STATUS_WIDTH-1:0] ST_NONE = `FT_CSUM_STATUS_NONE;
localparam [`FT_RSS_TYPE_WIDTH-1:0] RSS_NONE = `FT_RSS_TYPE_NONE;
localparam [`FT_RSS_TYPE_WIDTH-1:0] RSS_IPV4 = `FT_RSS_TYPE_IPV4;
localparam [`FT_RSS_TYPE_WIDTH-1:0] RSS_IPV4_TCP = `FT_RSS_TYPE_IPV4_TCP;
localparam [`FT_RSS_TYPE_WIDTH-1:0] RSS_IPV4_UDP = `FT_RSS_TYPE_IPV4_UDP;

// Fixed-offset header bytes: ethertype (2), version/IHL, total length (2), flags/fragment (2),
// protocol, addresses (8).
localparam FIXED = 16;
function integer fixed_offset(input integer i);
    begin
        case (i)
            0: fixed_offset = `FT_ETH_TYPE_OFFSET;
            1: fixed_offset = `FT_ETH_TYPE_OFFSET + 1;
            2: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_VIHL_OFFSET;
            3: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_TOTAL_LEN_OFFSET;
            4: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_TOTAL_LEN_OFFSET + 1;
            5: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_FRAG_OFFSET;
            6: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_FRAG_OFFSET + 1;
            7: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_PROTO_OFFSET;
            default: fixed_offset = `FT_ETH_HDR_LEN + `FT_IPV4_ADDRS_OFFSET + (i - 8);
        endcase
    end
endfunction

// L4 bytes at offsets from the L4 start: ports (4), UDP checksum (2).
localparam DYN = 6;
function integer dyn_offset(input integer i);
    begin
        dyn_offset = (i < `FT_L4_PORTS_LEN) ? i : UDP_CSUM_OFF + (i - `FT_L4_PORTS_LEN);
    end
endfunction

reg first_reg = 1'b1;
reg [BEAT_WIDTH-1:0] beat_reg = 0;
reg [7:0] fixed_reg [0:FIXED-1];
reg [7:0] dyn_reg [0:DYN-1];
integer i;
reg [STATUS_ADDR_WIDTH:0] pending_reg = 0;   // frames accepted and not yet taken as status

wire in_ready = pending_reg != STATUS_DEPTH[STATUS_ADDR_WIDTH:0];
wire in_fire = s_axis_tvalid && in_ready;
wire [BEAT_WIDTH-1:0] beat = first_reg ? {BEAT_WIDTH{1'b0}} : beat_reg;

// Header bytes as seen by this beat: from the beat itself when they are in it.
wire [7:0] fixed_cur [0:FIXED-1];
genvar g;
generate
for (g = 0; g < FIXED; g = g + 1) begin : g_fixed
    localparam integer OFF = fixed_offset(g);
    localparam [31:0] AT_BEAT_32 = OFF >> LANE_BITS;
    localparam [BEAT_WIDTH-1:0] AT_BEAT = AT_BEAT_32[BEAT_WIDTH-1:0];
    localparam integer LANE = OFF % KEEP_WIDTH;
    assign fixed_cur[g] = (beat == AT_BEAT) ? s_axis_tdata[LANE*8 +: 8] : fixed_reg[g];
end
endgenerate

wire [15:0] ethertype = {fixed_cur[0], fixed_cur[1]};
wire [3:0] version = fixed_cur[2][7:4];
wire [3:0] ihl = fixed_cur[2][3:0];
wire [15:0] total_len = {fixed_cur[3], fixed_cur[4]};
wire [13:0] frag = {fixed_cur[5][5:0], fixed_cur[6]};
wire [7:0] proto = fixed_cur[7];
wire [OFF_WIDTH-1:0] ihl_bytes = {{(OFF_WIDTH-6){1'b0}}, ihl, 2'b00};
wire [OFF_WIDTH-1:0] ip_start = `FT_ETH_HDR_LEN;
wire [OFF_WIDTH-1:0] l4_start = ip_start + ihl_bytes;
wire [OFF_WIDTH-1:0] ip_end = ip_start + {{(OFF_WIDTH-16){1'b0}}, total_len};
wire [OFF_WIDTH-1:0] addrs_start = `FT_ETH_HDR_LEN + `FT_IPV4_ADDRS_OFFSET;
wire [OFF_WIDTH-1:0] addrs_end = `FT_ETH_HDR_LEN + `FT_IPV4_ADDRS_OFFSET + 8;

wire [7:0] dyn_cur [0:DYN-1];
wire [DYN-1:0] dyn_here;
generate
for (g = 0; g < DYN; g = g + 1) begin : g_dyn
    localparam [31:0] DELTA_32 = dyn_offset(g);
    localparam [OFF_WIDTH-1:0] DELTA = DELTA_32[OFF_WIDTH-1:0];
    wire [OFF_WIDTH-1:0] off = l4_start + DELTA;
    assign dyn_here[g] = beat == off[OFF_WIDTH-1:LANE_BITS];
    assign dyn_cur[g] = dyn_here[g] ? s_axis_tdata[off[LANE_BITS-1:0]*8 +: 8] : dyn_reg[g];
end
endgenerate
reg [KEEP_WIDTH-1:0] ip_mask;
reg [KEEP_WIDTH-1:0] l4_mask;
reg [LANE_BITS:0] keep_count;
integer b;
always @* begin : lanes
    reg [OFF_WIDTH-1:0] off;
    keep_count = {(LANE_BITS+1){1'b0}};
    for (b = 0; b < KEEP_WIDTH; b = b + 1) begin
        off = {beat, b[LANE_BITS-1:0]};
        ip_mask[b] = s_axis_tkeep[b] && off >= ip_start && off < l4_start;
        l4_mask[b] = s_axis_tkeep[b]
                  && ((off >= addrs_start && off < addrs_end) || (off >= l4_start && off < ip_end));
        keep_count = keep_count + {{LANE_BITS{1'b0}}, s_axis_tkeep[b]};
    end
end

// Frame-level facts at the last beat (rules 1, 2 and 4 of 7.1, RSS input).
wire [OFF_WIDTH-1:0] len = {beat, {LANE_BITS{1'b0}}} + {{(OFF_WIDTH-LANE_BITS-1){1'b0}}, keep_count};
wire is_ipv4 = len >= ip_start && {16'd0, ethertype} == ETHERTYPE_IPV4;
wire malformed = len < addrs_end || version != `FT_IPV4_VERSION || ihl < 4'd5
              || len < l4_start || {{(OFF_WIDTH-16){1'b0}}, total_len} < ihl_bytes || ip_end > len;
wire [15:0] l4_len = total_len - {10'd0, ihl, 2'b00};
wire is_frag = frag != 14'd0;
wire is_tcp = {24'd0, proto} == PROTO_TCP;
wire is_udp = {24'd0, proto} == PROTO_UDP;
wire with_ports = !is_frag && (is_tcp || is_udp) && {16'd0, l4_len} >= `FT_L4_PORTS_LEN;
wire udp_zero = dyn_cur[4] == 8'd0 && dyn_cur[5] == 8'd0;
wire [63:0] addrs = {fixed_cur[8], fixed_cur[9], fixed_cur[10], fixed_cur[11],
                     fixed_cur[12], fixed_cur[13], fixed_cur[14], fixed_cur[15]};
wire [31:0] ports = with_ports ? {dyn_cur[0], dyn_cur[1], dyn_cur[2], dyn_cur[3]} : 32'd0;

// Frame facts: {is_ipv4, malformed, is_frag, is_tcp, is_udp, with_ports, udp_zero, l4_len,
// len[15:0], rss input}; the reduction sideband adds {first, last} on top.
localparam FACTS_WIDTH = 7 + 16 + 16 + 96;
localparam USER_WIDTH = 2 + FACTS_WIDTH;
wire [USER_WIDTH-1:0] red_user_in = {first_reg, s_axis_tlast, is_ipv4, malformed, is_frag, is_tcp,
                                     is_udp, with_ports, udp_zero, l4_len, len[15:0],
                                     addrs, ports};
localparam RED_SUM_WIDTH = 16 + 2 * ((KEEP_WIDTH / 2 <= 4) ? 1 : (KEEP_WIDTH / 2 <= 16) ? 2 : 3);
wire [2*RED_SUM_WIDTH-1:0] red_sum;
wire red_valid;
wire [USER_WIDTH-1:0] red_user;

ft_csum_reduce #(
    .DATA_WIDTH(DATA_WIDTH),
    .SUMS(2),
    .USER_WIDTH(USER_WIDTH)
) u_reduce (
    .clk(clk),
    .rst(rst),
    .s_data(s_axis_tdata),
    .s_mask({l4_mask, ip_mask}),
    .s_valid(in_fire),
    .s_user(red_user_in),
    .m_sum(red_sum),
    .m_valid(red_valid),
    .m_user(red_user)
);

always @(posedge clk) begin
    if (in_fire) begin
        first_reg <= s_axis_tlast;
        // Saturate: offsets beyond the counter's range are no longer tracked.
        if (&beat) begin
            beat_reg <= beat;
        end else begin
            beat_reg <= beat + 1'b1;
        end
        for (i = 0; i < FIXED; i = i + 1) begin
            fixed_reg[i] <= fixed_cur[i];
        end
        for (i = 0; i < DYN; i = i + 1) begin
            if (dyn_here[i]) begin
                dyn_reg[i] <= dyn_cur[i];
            end
        end
    end
    if (rst) begin
        first_reg <= 1'b1;
        beat_reg <= 0;
    end
end

// ---- Verdict ----
wire r_first = red_user[USER_WIDTH-1];
wire r_last = red_user[USER_WIDTH-2];

reg [31:0] acc_ip_reg = 0;
reg [31:0] acc_l4_reg = 0;
wire [31:0] tot_ip = (r_first ? 32'd0 : acc_ip_reg) + {{(32-RED_SUM_WIDTH){1'b0}}, red_sum[0 +: RED_SUM_WIDTH]};
wire [31:0] tot_l4 = (r_first ? 32'd0 : acc_l4_reg) + {{(32-RED_SUM_WIDTH){1'b0}}, red_sum[RED_SUM_WIDTH +: RED_SUM_WIDTH]};

function [15:0] fold32(input [31:0] x);
    reg [16:0] t;
    begin
        t = {1'b0, x[15:0]} + {1'b0, x[31:16]};
        fold32 = t[15:0] + {15'd0, t[16]};
    end
endfunction

// Stage 1: whole-frame sums and facts.
reg f1_valid_reg = 1'b0;
reg [31:0] f1_ip_reg = 0, f1_l4_reg = 0;
reg [FACTS_WIDTH-1:0] f1_facts_reg = 0;

always @(posedge clk) begin
    f1_valid_reg <= 1'b0;
    if (red_valid) begin
        acc_ip_reg <= tot_ip;
        acc_l4_reg <= tot_l4;
        if (r_last) begin
            f1_valid_reg <= 1'b1;
            f1_ip_reg <= tot_ip;
            f1_l4_reg <= tot_l4;
            f1_facts_reg <= red_user[FACTS_WIDTH-1:0];
        end
    end
    if (rst) begin
        f1_valid_reg <= 1'b0;
    end
end

wire g_ipv4, g_malformed, g_frag, g_tcp, g_udp, g_ports, g_udp_zero;
wire [15:0] g_l4_len, g_len;
wire [95:0] g_rss;
assign {g_ipv4, g_malformed, g_frag, g_tcp, g_udp, g_ports, g_udp_zero, g_l4_len, g_len, g_rss}
    = f1_facts_reg;

wire ip_sum_ok = fold32(f1_ip_reg) == 16'hFFFF;
wire [31:0] l4_pseudo = {16'd0, fold32(f1_l4_reg)} + (g_tcp ? PROTO_TCP : PROTO_UDP) + {16'd0, g_l4_len};
wire l4_sum_ok = fold32(l4_pseudo) == 16'hFFFF;

reg [`FT_CSUM_STATUS_WIDTH-1:0] st_ip, st_l4;
reg [`FT_RSS_TYPE_WIDTH-1:0] st_rss;
always @* begin
    st_rss = RSS_NONE;
    if (!g_ipv4) begin
        st_ip = ST_NONE;
        st_l4 = ST_NONE;
    end else if (g_malformed) begin
        st_ip = ST_BAD;
        st_l4 = ST_NONE;
    end else begin
        st_rss = !g_ports ? RSS_IPV4 : g_tcp ? RSS_IPV4_TCP : RSS_IPV4_UDP;
        if (!ip_sum_ok) begin
            st_ip = ST_BAD;
            st_l4 = ST_NONE;
        end else begin
            st_ip = ST_GOOD;
            if (g_frag || !(g_tcp || g_udp)) begin
                st_l4 = ST_NONE;
            end else if (g_tcp && {16'd0, g_l4_len} < MIN_TCP) begin
                st_l4 = ST_BAD;
            end else if (g_udp && {16'd0, g_l4_len} < UDP_LEN) begin
                st_l4 = ST_BAD;
            end else if (g_udp && g_udp_zero) begin
                st_l4 = ST_NONE;
            end else begin
                st_l4 = l4_sum_ok ? ST_GOOD : ST_BAD;
            end
        end
    end
    if (!cfg_csum_enable) begin
        st_ip = ST_UNKNOWN;
        st_l4 = ST_UNKNOWN;
    end
end

// Stage 2: statuses, and the hash of the RSS input (one cycle in ft_rss_toeplitz).
reg f2_valid_reg = 1'b0;
reg [`FT_CSUM_STATUS_WIDTH-1:0] f2_ip_reg = ST_UNKNOWN, f2_l4_reg = ST_UNKNOWN;
reg [`FT_RSS_TYPE_WIDTH-1:0] f2_rss_type_reg = RSS_NONE;
reg [95:0] f2_rss_reg = 0;
reg [15:0] f2_len_reg = 0;
wire [31:0] hash;
// The hash is valid in step with f2_valid_reg; its own valid flag is not needed.
/* verilator lint_off UNUSEDSIGNAL */
wire hash_valid;
/* verilator lint_on UNUSEDSIGNAL */

ft_rss_toeplitz #(
    .INPUT_BYTES(12)
) u_toeplitz (
    .clk(clk),
    .rst(rst),
    .cfg_key(cfg_rss_key),
    .s_data(st_rss == RSS_NONE ? 96'd0 : g_rss),
    .s_valid(f1_valid_reg),
    .m_hash(hash),
    .m_valid(hash_valid)
);

always @(posedge clk) begin
    f2_valid_reg <= f1_valid_reg;
    f2_ip_reg <= st_ip;
    f2_l4_reg <= st_l4;
    f2_rss_type_reg <= st_rss;
    f2_rss_reg <= st_rss == RSS_NONE ? 96'd0 : g_rss;
    f2_len_reg <= g_len;
    if (rst) begin
        f2_valid_reg <= 1'b0;
    end
end

// ---- Status queue ----
localparam ST_WIDTH = 2 * `FT_CSUM_STATUS_WIDTH + `FT_RSS_TYPE_WIDTH + 96 + 32 + 16;
wire st_pop = m_status_valid && m_status_ready;
// Never full: pending_reg stops the input at STATUS_DEPTH frames not yet taken.
/* verilator lint_off UNUSEDSIGNAL */
wire st_in_ready;
wire [STATUS_ADDR_WIDTH:0] st_count;
/* verilator lint_on UNUSEDSIGNAL */

ft_fifo #(
    .WIDTH(ST_WIDTH),
    .ADDR_WIDTH(STATUS_ADDR_WIDTH)
) u_status (
    .clk(clk),
    .rst(rst),
    .s_data({f2_ip_reg, f2_l4_reg, f2_rss_type_reg, f2_rss_reg, hash, f2_len_reg}),
    .s_valid(f2_valid_reg),
    .s_ready(st_in_ready),
    .m_data({m_status_ip_csum, m_status_l4_csum, m_status_rss_type, m_status_rss_input,
             m_status_rss_hash, m_status_len}),
    .m_valid(m_status_valid),
    .m_ready(m_status_ready),
    .count(st_count)
);

always @(posedge clk) begin
    pending_reg <= pending_reg + {{STATUS_ADDR_WIDTH{1'b0}}, in_fire && s_axis_tlast}
                 - {{STATUS_ADDR_WIDTH{1'b0}}, st_pop};
    if (rst) begin
        pending_reg <= 0;
    end
end

assign s_axis_tready = in_ready;

endmodule

`resetall
