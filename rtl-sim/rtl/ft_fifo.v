// ft_fifo: small synchronous first-word-fall-through FIFO with valid/ready on both sides.
//
// Owns: storage of DEPTH entries of WIDTH bits and their pointers. m_data shows the oldest entry
// whenever m_valid is set (read combinationally from the register array, which suits the small
// metadata and lookahead queues of the engines; large frame stores use their own block RAM).
// `count` is the number of entries held, for credit-based flow control upstream.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module ft_fifo #(
    // Bits per entry.
    parameter WIDTH = 8,
    // log2 of the number of entries (DEPTH = 2^ADDR_WIDTH), at least 1.
    parameter ADDR_WIDTH = 4
) (
    input  wire                  clk,
    input  wire                  rst,

    input  wire [WIDTH-1:0]      s_data,
    input  wire                  s_valid,
    output wire                  s_ready,

    output wire [WIDTH-1:0]      m_data,
    output wire                  m_valid,
    input  wire                  m_ready,

    output wire [ADDR_WIDTH:0]   count
);

initial begin
    if (WIDTH < 1 || ADDR_WIDTH < 1 || ADDR_WIDTH > 16) begin
        $display("Error: WIDTH must be >= 1 and ADDR_WIDTH 1..16 (instance %m)");
        $finish;
    end
end

localparam DEPTH = 1 << ADDR_WIDTH;

reg [WIDTH-1:0] mem [0:DEPTH-1];
reg [ADDR_WIDTH:0] wr_ptr_reg = {ADDR_WIDTH+1{1'b0}};
reg [ADDR_WIDTH:0] rd_ptr_reg = {ADDR_WIDTH+1{1'b0}};

wire full = (wr_ptr_reg[ADDR_WIDTH] != rd_ptr_reg[ADDR_WIDTH])
         && (wr_ptr_reg[ADDR_WIDTH-1:0] == rd_ptr_reg[ADDR_WIDTH-1:0]);
wire empty = wr_ptr_reg == rd_ptr_reg;

assign s_ready = !full;
assign m_valid = !empty;
assign m_data = mem[rd_ptr_reg[ADDR_WIDTH-1:0]];
assign count = wr_ptr_reg - rd_ptr_reg;

always @(posedge clk) begin
    if (s_valid && !full) begin
        mem[wr_ptr_reg[ADDR_WIDTH-1:0]] <= s_data;
        wr_ptr_reg <= wr_ptr_reg + 1'b1;
    end
    if (m_ready && !empty) begin
        rd_ptr_reg <= rd_ptr_reg + 1'b1;
    end
    if (rst) begin
        wr_ptr_reg <= {ADDR_WIDTH+1{1'b0}};
        rd_ptr_reg <= {ADDR_WIDTH+1{1'b0}};
    end
end

endmodule

`resetall
