// ft_tx_csum: TX checksum insertion (hw-spec SPEC.md 6.2), store-and-forward at line rate.
//
// Owns: the IPv4 header checksum and the TCP/UDP checksum (pseudo-header included) of every
// frame whose sideband asks for them, written into the frame on its way out; frames asking for
// nothing leave byte for byte. The checksum sits in the header, before the bytes it covers, so
// each frame is stored whole before it leaves.
//
// Datapath: a ring of RING_BEATS = 2^ceil(log2(2 * MAX_FRAME_LEN / W)) beats (at least two
// maximum frames: ping-pong generalised to beat granularity) in one simple dual-port RAM. While a
// frame is written, ft_csum_reduce sums its beats under two byte masks (IP header; addresses +
// L4 bytes), the checksum fields themselves masked to zero; the sums are folded, byte-swapped
// when L2_LEN is odd (RFC 1071: a region at an odd offset sums byte-swapped), completed with
// protocol and L4 length, and queued with the frame's length. The read side replays the frame
// from the ring and substitutes the four checksum bytes as they pass, starting the next frame on
// the cycle after the previous one's last beat: one beat per cycle, no idle cycles between
// back-to-back frames, while the writer fills the other half of the ring.
//
// Interfaces: s_axis_* frames, with sideband s_axis_ip_csum / l4_csum / l2_len / l3_len sampled
// on each frame's first beat; requests must already be valid (ft_tx_validate's job) and frames
// at most MAX_FRAME_LEN bytes with contiguous tkeep. m_axis_* frames out.
// Must not: judge requests, segment, or change any byte other than the checksum fields.
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"
`include "ft_proto.vh"

module ft_tx_csum #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Largest frame in bytes (sizes the ring: two frames).
    parameter MAX_FRAME_LEN = 9216,
    // log2 of the frames that may wait between checksum and output.
    parameter META_ADDR_WIDTH = 5,
    // Derived, do not override: bytes per beat.
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    input  wire [DATA_WIDTH-1:0]                   s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_axis_tkeep,
    input  wire                                    s_axis_tvalid,
    output wire                                    s_axis_tready,
    input  wire                                    s_axis_tlast,
    input  wire                                    s_axis_ip_csum,
    input  wire [`FT_TXD_L4_CSUM_WIDTH-1:0]        s_axis_l4_csum,
    input  wire [`FT_TXD_L2_LEN_WIDTH-1:0]         s_axis_l2_len,
    input  wire [`FT_TXD_L3_LEN_WIDTH-1:0]         s_axis_l3_len,

    output wire [DATA_WIDTH-1:0]                   m_axis_tdata,
    output wire [KEEP_WIDTH-1:0]                   m_axis_tkeep,
    output wire                                    m_axis_tvalid,
    input  wire                                    m_axis_tready,
    output wire                                    m_axis_tlast
);

localparam LANE_BITS = $clog2(KEEP_WIDTH);
localparam FRAME_BEATS = (MAX_FRAME_LEN + KEEP_WIDTH - 1) / KEEP_WIDTH;
localparam RING_ADDR_WIDTH = $clog2(2 * FRAME_BEATS);
localparam RING_BEATS = 1 << RING_ADDR_WIDTH;
localparam OFF_BITS = $clog2(MAX_FRAME_LEN + 2 * KEEP_WIDTH + 1);
// At least 17 bits: wide enough for L2_LEN + the 16-bit L3_LEN field.
localparam OFF_WIDTH = OFF_BITS > 17 ? OFF_BITS : 17;
localparam BEAT_WIDTH = OFF_WIDTH - LANE_BITS;
localparam META_DEPTH = 1 << META_ADDR_WIDTH;

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
    if (META_ADDR_WIDTH < 2 || META_ADDR_WIDTH > 10) begin
        $display("Error: META_ADDR_WIDTH must be 2..10 (instance %m)");
        $finish;
    end
end

localparam [`FT_TXD_L4_CSUM_WIDTH-1:0] L4_NONE = `FT_L4_CSUM_NONE;
localparam [`FT_TXD_L4_CSUM_WIDTH-1:0] L4_TCP = `FT_L4_CSUM_TCP;
localparam [`FT_TXD_L4_CSUM_WIDTH-1:0] L4_UDP = `FT_L4_CSUM_UDP;
localparam [31:0] PROTO_TCP = `FT_IPPROTO_TCP;
localparam [31:0] PROTO_UDP = `FT_IPPROTO_UDP;
localparam [31:0] IP_CSUM_OFF_32 = `FT_IPV4_CSUM_OFFSET;
localparam [31:0] TCP_CSUM_OFF_32 = `FT_TCP_CSUM_OFFSET;
localparam [31:0] UDP_CSUM_OFF_32 = `FT_UDP_CSUM_OFFSET;
localparam [OFF_WIDTH-1:0] IP_CSUM_OFF = IP_CSUM_OFF_32[OFF_WIDTH-1:0];
localparam [OFF_WIDTH-1:0] TCP_CSUM_OFF = TCP_CSUM_OFF_32[OFF_WIDTH-1:0];
localparam [OFF_WIDTH-1:0] UDP_CSUM_OFF = UDP_CSUM_OFF_32[OFF_WIDTH-1:0];
localparam [OFF_WIDTH-1:0] ADDRS_OFF = `FT_IPV4_ADDRS_OFFSET;
localparam [OFF_WIDTH-1:0] ADDRS_END = `FT_IPV4_ADDRS_OFFSET + 8;

// ---------------------------------------------------------------- write side
reg in_first_reg = 1'b1;
reg [BEAT_WIDTH-1:0] in_beat_reg = 0;
reg in_ip_reg = 1'b0;
reg [`FT_TXD_L4_CSUM_WIDTH-1:0] in_l4_reg = L4_NONE;
reg [`FT_TXD_L2_LEN_WIDTH-1:0] in_l2_reg = 0;
reg [`FT_TXD_L3_LEN_WIDTH-1:0] in_l3_reg = 0;
reg [RING_ADDR_WIDTH:0] wr_ptr_reg = 0;
reg [RING_ADDR_WIDTH:0] rd_ptr_reg = 0;
reg [META_ADDR_WIDTH:0] frames_pending_reg = 0;   // frames accepted, not yet started on output

reg [DATA_WIDTH-1:0] ring [0:RING_BEATS-1];

wire ring_full = (wr_ptr_reg - rd_ptr_reg) == RING_BEATS[RING_ADDR_WIDTH:0];
wire in_ready = !ring_full && frames_pending_reg != META_DEPTH[META_ADDR_WIDTH:0];
wire in_fire = s_axis_tvalid && in_ready;

wire in_ip = in_first_reg ? s_axis_ip_csum : in_ip_reg;
wire [`FT_TXD_L4_CSUM_WIDTH-1:0] in_l4 = in_first_reg ? s_axis_l4_csum : in_l4_reg;
wire [`FT_TXD_L2_LEN_WIDTH-1:0] in_l2 = in_first_reg ? s_axis_l2_len : in_l2_reg;
wire [`FT_TXD_L3_LEN_WIDTH-1:0] in_l3 = in_first_reg ? s_axis_l3_len : in_l3_reg;
wire [BEAT_WIDTH-1:0] in_beat = in_first_reg ? {BEAT_WIDTH{1'b0}} : in_beat_reg;

wire [OFF_WIDTH-1:0] l2_off = {{(OFF_WIDTH-`FT_TXD_L2_LEN_WIDTH){1'b0}}, in_l2};
wire [OFF_WIDTH-1:0] l4_off = l2_off + {{(OFF_WIDTH-`FT_TXD_L3_LEN_WIDTH){1'b0}}, in_l3};
wire [OFF_WIDTH-1:0] ip_csum_pos = l2_off + IP_CSUM_OFF;
wire [OFF_WIDTH-1:0] l4_csum_pos = l4_off + ((in_l4 == L4_UDP) ? UDP_CSUM_OFF : TCP_CSUM_OFF);
wire in_l4_en = in_l4 == L4_TCP || in_l4 == L4_UDP;

reg [KEEP_WIDTH-1:0] ip_mask;
reg [KEEP_WIDTH-1:0] l4_mask;
reg [LANE_BITS:0] keep_count;
integer b;
always @* begin : masks
    reg [OFF_WIDTH-1:0] off;
    keep_count = {(LANE_BITS+1){1'b0}};
    for (b = 0; b < KEEP_WIDTH; b = b + 1) begin
        off = {in_beat, b[LANE_BITS-1:0]};
        ip_mask[b] = in_ip && s_axis_tkeep[b] && off >= l2_off && off < l4_off
                  && off != ip_csum_pos && off != ip_csum_pos + 1'b1;
        l4_mask[b] = in_l4_en && s_axis_tkeep[b]
                  && ((off >= l2_off + ADDRS_OFF && off < l2_off + ADDRS_END) || off >= l4_off)
                  && off != l4_csum_pos && off != l4_csum_pos + 1'b1;
        keep_count = keep_count + {{LANE_BITS{1'b0}}, s_axis_tkeep[b]};
    end
end

wire [OFF_WIDTH-1:0] in_len = {in_beat, {LANE_BITS{1'b0}}}
                            + {{(OFF_WIDTH-LANE_BITS-1){1'b0}}, keep_count};

// Sideband through the reduction pipeline: first, last, request fields, frame length.
localparam USER_WIDTH = 2 + 1 + `FT_TXD_L4_CSUM_WIDTH + `FT_TXD_L2_LEN_WIDTH
                      + `FT_TXD_L3_LEN_WIDTH + OFF_WIDTH;
wire [USER_WIDTH-1:0] red_user_in = {in_first_reg, s_axis_tlast, in_ip, in_l4, in_l2, in_l3, in_len};
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
        ring[wr_ptr_reg[RING_ADDR_WIDTH-1:0]] <= s_axis_tdata;
        wr_ptr_reg <= wr_ptr_reg + 1'b1;
        in_first_reg <= s_axis_tlast;
        in_beat_reg <= in_beat + 1'b1;
        if (in_first_reg) begin
            in_ip_reg <= s_axis_ip_csum;
            in_l4_reg <= s_axis_l4_csum;
            in_l2_reg <= s_axis_l2_len;
            in_l3_reg <= s_axis_l3_len;
        end
    end
    if (rst) begin
        wr_ptr_reg <= 0;
        in_first_reg <= 1'b1;
    end
end

// ---------------------------------------------------------------- finishing the sums
wire r_first, r_last, r_ip;
wire [`FT_TXD_L4_CSUM_WIDTH-1:0] r_l4;
wire [`FT_TXD_L2_LEN_WIDTH-1:0] r_l2;
wire [`FT_TXD_L3_LEN_WIDTH-1:0] r_l3;
wire [OFF_WIDTH-1:0] r_len;
assign {r_first, r_last, r_ip, r_l4, r_l2, r_l3, r_len} = red_user;

reg [31:0] acc_ip_reg = 0;
reg [31:0] acc_l4_reg = 0;
wire [31:0] tot_ip = (r_first ? 32'd0 : acc_ip_reg) + {{(32-RED_SUM_WIDTH){1'b0}}, red_sum[0 +: RED_SUM_WIDTH]};
wire [31:0] tot_l4 = (r_first ? 32'd0 : acc_l4_reg) + {{(32-RED_SUM_WIDTH){1'b0}}, red_sum[RED_SUM_WIDTH +: RED_SUM_WIDTH]};

// Stage 1: whole-frame sums.
reg f1_valid_reg = 1'b0;
reg [31:0] f1_ip_reg = 0, f1_l4_reg = 0;
reg f1_ip_en_reg = 1'b0;
reg [`FT_TXD_L4_CSUM_WIDTH-1:0] f1_l4_reg_kind = L4_NONE;
reg [`FT_TXD_L2_LEN_WIDTH-1:0] f1_l2_reg = 0;
reg [`FT_TXD_L3_LEN_WIDTH-1:0] f1_l3_reg = 0;
reg [OFF_WIDTH-1:0] f1_len_reg = 0;

// Stage 2: folded, byte order fixed, positions.
reg f2_valid_reg = 1'b0;
reg [15:0] f2_ip_reg = 0, f2_l4_reg = 0;
reg f2_ip_en_reg = 1'b0;
reg [`FT_TXD_L4_CSUM_WIDTH-1:0] f2_l4_kind_reg = L4_NONE;
reg [15:0] f2_l4len_reg = 0;
reg [OFF_WIDTH-1:0] f2_ip_pos_reg = 0, f2_l4_pos_reg = 0, f2_len_reg = 0;

function [15:0] fold32(input [31:0] x);
    reg [16:0] t;
    begin
        t = {1'b0, x[15:0]} + {1'b0, x[31:16]};
        fold32 = t[15:0] + {15'd0, t[16]};
    end
endfunction

wire [15:0] f1_ip_fold = fold32(f1_ip_reg);
wire [15:0] f1_l4_fold = fold32(f1_l4_reg);
wire [OFF_WIDTH-1:0] f1_l2_off = {{(OFF_WIDTH-`FT_TXD_L2_LEN_WIDTH){1'b0}}, f1_l2_reg};
wire [OFF_WIDTH-1:0] f1_l4_off = f1_l2_off + {{(OFF_WIDTH-`FT_TXD_L3_LEN_WIDTH){1'b0}}, f1_l3_reg};
wire [15:0] f1_l4len = f1_len_reg[15:0] - f1_l4_off[15:0];

// Stage 3 (combinational into the queue): pseudo-header protocol and length, complement.
wire [31:0] f2_proto = (f2_l4_kind_reg == L4_UDP) ? PROTO_UDP : PROTO_TCP;
wire [15:0] f2_l4_sum = fold32({16'd0, f2_l4_reg} + f2_proto + {16'd0, f2_l4len_reg});
wire [15:0] f2_l4_csum_raw = ~f2_l4_sum;
wire [15:0] f2_l4_csum = (f2_l4_kind_reg == L4_UDP && f2_l4_csum_raw == 16'h0000) ? 16'hFFFF : f2_l4_csum_raw;
wire [15:0] f2_ip_csum = ~f2_ip_reg;
wire f2_l4_en = f2_l4_kind_reg == L4_TCP || f2_l4_kind_reg == L4_UDP;

always @(posedge clk) begin
    f1_valid_reg <= 1'b0;
    if (red_valid) begin
        acc_ip_reg <= tot_ip;
        acc_l4_reg <= tot_l4;
        if (r_last) begin
            f1_valid_reg <= 1'b1;
            f1_ip_reg <= tot_ip;
            f1_l4_reg <= tot_l4;
            f1_ip_en_reg <= r_ip;
            f1_l4_reg_kind <= r_l4;
            f1_l2_reg <= r_l2;
            f1_l3_reg <= r_l3;
            f1_len_reg <= r_len;
        end
    end
    f2_valid_reg <= f1_valid_reg;
    f2_ip_reg <= f1_l2_reg[0] ? {f1_ip_fold[7:0], f1_ip_fold[15:8]} : f1_ip_fold;
    f2_l4_reg <= f1_l2_reg[0] ? {f1_l4_fold[7:0], f1_l4_fold[15:8]} : f1_l4_fold;
    f2_ip_en_reg <= f1_ip_en_reg;
    f2_l4_kind_reg <= f1_l4_reg_kind;
    f2_l4len_reg <= f1_l4len;
    f2_ip_pos_reg <= f1_l2_off + IP_CSUM_OFF;
    f2_l4_pos_reg <= f1_l4_off + ((f1_l4_reg_kind == L4_UDP) ? UDP_CSUM_OFF : TCP_CSUM_OFF);
    f2_len_reg <= f1_len_reg;
    if (rst) begin
        f1_valid_reg <= 1'b0;
        f2_valid_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------- per-frame queue
localparam META_WIDTH = 1 + 16 + OFF_WIDTH + 1 + 16 + OFF_WIDTH + OFF_WIDTH;
wire [META_WIDTH-1:0] meta_in = {f2_ip_en_reg, f2_ip_csum, f2_ip_pos_reg,
                                 f2_l4_en, f2_l4_csum, f2_l4_pos_reg, f2_len_reg};
wire [META_WIDTH-1:0] meta_out;
wire meta_valid;
wire meta_pop;
// The queue cannot overflow: frames_pending_reg stops the input at META_DEPTH frames between
// their last input beat and their first output beat, so its ready and count are not needed.
/* verilator lint_off UNUSEDSIGNAL */
wire meta_in_ready;
wire [META_ADDR_WIDTH:0] meta_count;
/* verilator lint_on UNUSEDSIGNAL */

ft_fifo #(
    .WIDTH(META_WIDTH),
    .ADDR_WIDTH(META_ADDR_WIDTH)
) u_meta (
    .clk(clk),
    .rst(rst),
    .s_data(meta_in),
    .s_valid(f2_valid_reg),
    .s_ready(meta_in_ready),
    .m_data(meta_out),
    .m_valid(meta_valid),
    .m_ready(meta_pop),
    .count(meta_count)
);

// ---------------------------------------------------------------- read side
wire q_ip_en, q_l4_en;
wire [15:0] q_ip_csum, q_l4_csum;
wire [OFF_WIDTH-1:0] q_ip_pos, q_l4_pos, q_len;
assign {q_ip_en, q_ip_csum, q_ip_pos, q_l4_en, q_l4_csum, q_l4_pos, q_len} = meta_out;

reg [BEAT_WIDTH-1:0] rd_beat_reg = 0;

// Stage R: beat read from the ring, with what the patch needs.
reg r_valid_reg = 1'b0;
reg [DATA_WIDTH-1:0] r_data_reg = 0;
reg [BEAT_WIDTH-1:0] r_beat_reg = 0;
reg r_last_reg = 1'b0;
reg r_ip_en_reg = 1'b0, r_l4_en_reg = 1'b0;
reg [15:0] r_ip_csum_reg = 0, r_l4_csum_reg = 0;
reg [OFF_WIDTH-1:0] r_ip_pos_reg = 0, r_l4_pos_reg = 0;
reg [LANE_BITS-1:0] r_tail_reg = 0;      // len mod W of the frame (0: full last beat)

// Stage O: output register.
reg o_valid_reg = 1'b0;
reg [DATA_WIDTH-1:0] o_data_reg = 0;
reg [KEEP_WIDTH-1:0] o_keep_reg = 0;
reg o_last_reg = 1'b0;

wire adv = !o_valid_reg || m_axis_tready;
wire issue = adv && meta_valid;
wire [OFF_WIDTH-1:0] rd_next_off = {rd_beat_reg + 1'b1, {LANE_BITS{1'b0}}};
wire rd_last = rd_next_off >= q_len;
assign meta_pop = issue && rd_last;

reg [DATA_WIDTH-1:0] patched;
reg [KEEP_WIDTH-1:0] r_keep;
always @* begin : patch
    reg [OFF_WIDTH-1:0] off;
    for (b = 0; b < KEEP_WIDTH; b = b + 1) begin
        off = {r_beat_reg, b[LANE_BITS-1:0]};
        patched[8*b +: 8] = r_data_reg[8*b +: 8];
        if (r_ip_en_reg && off == r_ip_pos_reg) patched[8*b +: 8] = r_ip_csum_reg[15:8];
        if (r_ip_en_reg && off == r_ip_pos_reg + 1'b1) patched[8*b +: 8] = r_ip_csum_reg[7:0];
        if (r_l4_en_reg && off == r_l4_pos_reg) patched[8*b +: 8] = r_l4_csum_reg[15:8];
        if (r_l4_en_reg && off == r_l4_pos_reg + 1'b1) patched[8*b +: 8] = r_l4_csum_reg[7:0];
        r_keep[b] = !r_last_reg || r_tail_reg == {LANE_BITS{1'b0}} || b < r_tail_reg;
    end
end

always @(posedge clk) begin
    if (adv) begin
        o_valid_reg <= r_valid_reg;
        o_data_reg <= patched;
        o_keep_reg <= r_keep;
        o_last_reg <= r_last_reg;
        r_valid_reg <= issue;
        if (issue) begin
            r_data_reg <= ring[rd_ptr_reg[RING_ADDR_WIDTH-1:0]];
            r_beat_reg <= rd_beat_reg;
            r_last_reg <= rd_last;
            r_ip_en_reg <= q_ip_en;
            r_l4_en_reg <= q_l4_en;
            r_ip_csum_reg <= q_ip_csum;
            r_l4_csum_reg <= q_l4_csum;
            r_ip_pos_reg <= q_ip_pos;
            r_l4_pos_reg <= q_l4_pos;
            r_tail_reg <= q_len[LANE_BITS-1:0];
            rd_ptr_reg <= rd_ptr_reg + 1'b1;
            rd_beat_reg <= rd_last ? {BEAT_WIDTH{1'b0}} : rd_beat_reg + 1'b1;
        end
    end
    // Frames between their last input beat and their first output beat.
    frames_pending_reg <= frames_pending_reg + {{META_ADDR_WIDTH{1'b0}}, in_fire && s_axis_tlast}
                        - {{META_ADDR_WIDTH{1'b0}}, meta_pop};
    if (rst) begin
        rd_ptr_reg <= 0;
        rd_beat_reg <= 0;
        r_valid_reg <= 1'b0;
        o_valid_reg <= 1'b0;
        frames_pending_reg <= 0;
    end
end

assign s_axis_tready = in_ready;
assign m_axis_tdata = o_data_reg;
assign m_axis_tkeep = o_keep_reg;
assign m_axis_tvalid = o_valid_reg;
assign m_axis_tlast = o_last_reg;

endmodule

`resetall
