// ft_gather: joins the buffers of a scatter-gather TX request into one frame stream.
//
// Owns: byte realignment. Each buffer arrives as DMA read data packed from lane 0 (keep
// contiguous from lane 0; any number of bytes per beat), one buffer after the other; s_eof
// marks the last beat of the frame's last buffer. The output is the frame as an AXI stream
// with full beats except the last (tkeep contiguous, tlast on the last beat), what the TX
// engine expects. A residue register holds up to DATA_WIDTH/8 - 1 bytes that do not yet fill
// a beat; each input beat is shifted behind it by one barrel shift (by the residue's length),
// so the output runs at one beat per cycle whatever the buffer lengths and alignments. When a
// frame's last input beat overflows the residue, one extra cycle emits the tail. Bytes outside
// tkeep are driven as zero. Must not: know about descriptors or frames' contents.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module ft_gather #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Derived, do not override.
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    input  wire [DATA_WIDTH-1:0]                   s_tdata,
    input  wire [KEEP_WIDTH-1:0]                   s_tkeep,
    input  wire                                    s_tvalid,
    output wire                                    s_tready,
    input  wire                                    s_teof,

    output wire [DATA_WIDTH-1:0]                   m_tdata,
    output wire [KEEP_WIDTH-1:0]                   m_tkeep,
    output wire                                    m_tvalid,
    input  wire                                    m_tready,
    output wire                                    m_tlast,

    output wire                                    busy
);

localparam LANE_BITS = $clog2(KEEP_WIDTH);
localparam [31:0] KW_32 = KEEP_WIDTH;
localparam [LANE_BITS+1:0] KW = KW_32[LANE_BITS+1:0];

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

reg [DATA_WIDTH-1:0] acc_reg = {DATA_WIDTH{1'b0}};
reg [LANE_BITS-1:0] cnt_reg = {LANE_BITS{1'b0}};     // bytes held in acc_reg
reg tail_reg = 1'b0;                                 // acc_reg is a frame's last beat

// Bytes in the input beat (keep is contiguous from lane 0).
reg [LANE_BITS:0] n;
integer l;
always @* begin
    n = {(LANE_BITS+1){1'b0}};
    for (l = 0; l < KEEP_WIDTH; l = l + 1) begin
        n = n + {{LANE_BITS{1'b0}}, s_tkeep[l]};
    end
end

wire [DATA_WIDTH-1:0] lane_mask;
genvar gl;
generate
    for (gl = 0; gl < KEEP_WIDTH; gl = gl + 1) begin : g_mask
        assign lane_mask[gl*8 +: 8] = {8{s_tkeep[gl]}};
    end
endgenerate

wire [2*DATA_WIDTH-1:0] shifted = {{DATA_WIDTH{1'b0}}, s_tdata & lane_mask}
                                << {cnt_reg, 3'b000};
wire [2*DATA_WIDTH-1:0] wide = {{DATA_WIDTH{1'b0}}, acc_reg} | shifted;
wire [LANE_BITS+1:0] total = {2'b00, cnt_reg} + {1'b0, n};
wire full = total >= KW;
// Bytes left over once a full beat leaves (total < 2 * KW, so they are total's low bits).
wire [LANE_BITS-1:0] rest = total[LANE_BITS-1:0];

// Output of this cycle: the pending tail, or a beat made from the residue and the input.
wire emit = tail_reg || (s_tvalid && (full || s_teof));
wire out_last = tail_reg || (s_teof && !(total > KW));
wire [LANE_BITS+1:0] out_count = tail_reg ? {2'b00, cnt_reg} : (full ? KW : total);
wire take = s_tvalid && !tail_reg && (!emit || m_tready);

reg [KEEP_WIDTH-1:0] out_keep;
integer k;
always @* begin
    for (k = 0; k < KEEP_WIDTH; k = k + 1) begin
        out_keep[k] = k < out_count;
    end
end

always @(posedge clk) begin
    if (tail_reg) begin
        if (m_tready) begin
            tail_reg <= 1'b0;
            cnt_reg <= {LANE_BITS{1'b0}};
            acc_reg <= {DATA_WIDTH{1'b0}};
        end
    end else if (take) begin
        if (s_teof && total > KW) begin
            acc_reg <= wide[2*DATA_WIDTH-1:DATA_WIDTH];
            cnt_reg <= rest;
            tail_reg <= 1'b1;
        end else if (s_teof) begin
            acc_reg <= {DATA_WIDTH{1'b0}};
            cnt_reg <= {LANE_BITS{1'b0}};
        end else if (full) begin
            acc_reg <= wide[2*DATA_WIDTH-1:DATA_WIDTH];
            cnt_reg <= rest;
        end else begin
            acc_reg <= wide[DATA_WIDTH-1:0];
            cnt_reg <= total[LANE_BITS-1:0];
        end
    end
    if (rst) begin
        acc_reg <= {DATA_WIDTH{1'b0}};
        cnt_reg <= {LANE_BITS{1'b0}};
        tail_reg <= 1'b0;
    end
end

assign s_tready = !tail_reg && (!emit || m_tready);
assign m_tvalid = emit;
assign m_tdata = tail_reg ? acc_reg : wide[DATA_WIDTH-1:0];
assign m_tkeep = out_keep;
assign m_tlast = out_last;
assign busy = tail_reg || cnt_reg != {LANE_BITS{1'b0}};

endmodule

`resetall
