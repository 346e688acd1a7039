// ft_csum_reduce: pipelined ones' complement reduction of one stream beat.
//
// Owns: the per-beat adder tree of the checksum engines. Each beat carries DATA_WIDTH/8 bytes;
// byte lane b (tdata bits 8b+7:8b) is the frame byte at offset base+b, and beats start at even
// frame offsets, so lanes 2n and 2n+1 form the big-endian 16-bit word n of RFC 1071. For each of
// SUMS independent byte masks it returns the plain (unfolded) sum of the masked words; masked-off
// bytes count as zero. The caller accumulates beats and folds (end-around carry) at frame end.
//
// Timing: a single-cycle tree over 32 words does not close at 250 MHz, so the tree is radix 4
// with a register after every level: STAGES = ceil(log4(DATA_WIDTH/16)) cycles of latency
// (3 at 512 bits), one beat per cycle throughput. s_user rides along with the same latency.
// Must not: fold, complement or know anything about headers (callers build the masks).
`resetall
`timescale 1ns / 1ps
`default_nettype none

module ft_csum_reduce #(
    // Beat width in bits: a power of two from 64 to 512.
    parameter DATA_WIDTH = 512,
    // Number of independent byte masks (sums) computed over the same beat.
    parameter SUMS = 2,
    // Width of the sideband carried with the same latency as the sums.
    parameter USER_WIDTH = 1,
    // Derived, do not override: bytes per beat, 16-bit words per beat, pipeline depth, sum width.
    parameter KEEP_WIDTH = DATA_WIDTH / 8,
    parameter WORDS = DATA_WIDTH / 16,
    parameter STAGES = (WORDS <= 4) ? 1 : (WORDS <= 16) ? 2 : (WORDS <= 64) ? 3 : 4,
    parameter SUM_WIDTH = 16 + 2 * STAGES
) (
    input  wire                           clk,
    input  wire                           rst,

    input  wire [DATA_WIDTH-1:0]          s_data,
    input  wire [SUMS*KEEP_WIDTH-1:0]     s_mask,
    input  wire                           s_valid,
    input  wire [USER_WIDTH-1:0]          s_user,

    output wire [SUMS*SUM_WIDTH-1:0]      m_sum,
    output wire                           m_valid,
    output wire [USER_WIDTH-1:0]          m_user
);

initial begin
    if (DATA_WIDTH < 64 || DATA_WIDTH > 512 || (DATA_WIDTH & (DATA_WIDTH - 1)) != 0) begin
        $display("Error: DATA_WIDTH must be a power of two from 64 to 512 (instance %m)");
        $finish;
    end
    if (SUMS < 1) begin
        $display("Error: SUMS must be at least 1 (instance %m)");
        $finish;
    end
    if (KEEP_WIDTH * 8 != DATA_WIDTH || WORDS * 16 != DATA_WIDTH) begin
        $display("Error: KEEP_WIDTH and WORDS are derived; do not override them (instance %m)");
        $finish;
    end
end

// Entries at level l of the tree: ceil(WORDS / 4^l).
function integer level_count(input integer level);
    integer n, i;
    begin
        n = WORDS;
        for (i = 0; i < level; i = i + 1) begin
            n = (n + 3) / 4;
        end
        level_count = n;
    end
endfunction

genvar k, l, n;
generate
for (k = 0; k < SUMS; k = k + 1) begin : g_sum
    // Level 0: masked 16-bit words (combinational).
    wire [WORDS*16-1:0] words;
    for (n = 0; n < WORDS; n = n + 1) begin : g_word
        wire [7:0] hi = s_mask[k*KEEP_WIDTH + 2*n]     ? s_data[16*n +: 8]     : 8'd0;
        wire [7:0] lo = s_mask[k*KEEP_WIDTH + 2*n + 1] ? s_data[16*n + 8 +: 8] : 8'd0;
        assign words[16*n +: 16] = {hi, lo};
    end

    // Levels 1..STAGES: each entry is the registered sum of up to four entries below it.
    for (l = 1; l <= STAGES; l = l + 1) begin : g_level
        localparam integer IN_COUNT = level_count(l - 1);
        localparam integer OUT_COUNT = level_count(l);
        localparam integer IN_WIDTH = 16 + 2 * (l - 1);
        localparam integer OUT_WIDTH = 16 + 2 * l;
        wire [IN_COUNT*IN_WIDTH-1:0] in_vec;
        reg  [OUT_COUNT*OUT_WIDTH-1:0] out_reg = {OUT_COUNT*OUT_WIDTH{1'b0}};
        if (l == 1) begin : g_from_words
            assign in_vec = words;
        end else begin : g_from_level
            assign in_vec = g_level[l-1].out_reg;
        end
        for (n = 0; n < OUT_COUNT; n = n + 1) begin : g_add
            localparam integer TERMS = (IN_COUNT - 4*n >= 4) ? 4 : IN_COUNT - 4*n;
            wire [OUT_WIDTH-1:0] t0 = {2'b00, in_vec[(4*n)*IN_WIDTH +: IN_WIDTH]};
            wire [OUT_WIDTH-1:0] t1;
            wire [OUT_WIDTH-1:0] t2;
            wire [OUT_WIDTH-1:0] t3;
            if (TERMS > 1) begin : g_t1
                assign t1 = {2'b00, in_vec[(4*n+1)*IN_WIDTH +: IN_WIDTH]};
            end else begin : g_z1
                assign t1 = {OUT_WIDTH{1'b0}};
            end
            if (TERMS > 2) begin : g_t2
                assign t2 = {2'b00, in_vec[(4*n+2)*IN_WIDTH +: IN_WIDTH]};
            end else begin : g_z2
                assign t2 = {OUT_WIDTH{1'b0}};
            end
            if (TERMS > 3) begin : g_t3
                assign t3 = {2'b00, in_vec[(4*n+3)*IN_WIDTH +: IN_WIDTH]};
            end else begin : g_z3
                assign t3 = {OUT_WIDTH{1'b0}};
            end
            always @(posedge clk) begin
                out_reg[n*OUT_WIDTH +: OUT_WIDTH] <= (t0 + t1) + (t2 + t3);
            end
        end
    end
    assign m_sum[k*SUM_WIDTH +: SUM_WIDTH] = g_level[STAGES].out_reg;
end
endgenerate

// Valid and sideband pipeline, STAGES deep.
reg [STAGES-1:0] valid_pipe_reg = {STAGES{1'b0}};
reg [STAGES*USER_WIDTH-1:0] user_pipe_reg = {STAGES*USER_WIDTH{1'b0}};

generate
if (STAGES > 1) begin : g_pipe
    always @(posedge clk) begin
        valid_pipe_reg <= {valid_pipe_reg[STAGES-2:0], s_valid};
        user_pipe_reg <= {user_pipe_reg[(STAGES-1)*USER_WIDTH-1:0], s_user};
        if (rst) begin
            valid_pipe_reg <= {STAGES{1'b0}};
        end
    end
end else begin : g_pipe1
    always @(posedge clk) begin
        valid_pipe_reg <= s_valid;
        user_pipe_reg <= s_user;
        if (rst) begin
            valid_pipe_reg <= 1'b0;
        end
    end
end
endgenerate

assign m_valid = valid_pipe_reg[STAGES-1];
assign m_user = user_pipe_reg[(STAGES-1)*USER_WIDTH +: USER_WIDTH];

endmodule

`resetall
