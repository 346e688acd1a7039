// ft_rss_toeplitz: the Toeplitz hash of receive-side scaling (hw-spec `rss` module), one input
// per cycle, one cycle of latency.
//
// Owns: the hash only. For every input bit that is set (most significant bit of byte 0 first),
// the 32-bit window of the key starting at that bit position is XORed into the result. The
// input is 12 bytes (IPv4 source and destination address, then source and destination port);
// an addresses-only input is the same with the port bytes zero, which contribute nothing.
// Byte 0 of the input sits in s_data[95:88]; key byte 0 (bits 31:24 of RSS.KEY word 0) in
// cfg_key[319:312]. Must not: decide what the input is (ft_rx_csum does).
`resetall
`timescale 1ns / 1ps
`default_nettype none
`include "ferrotoe_hw_spec.vh"

module ft_rss_toeplitz #(
    // Input bytes hashed (at most KEY bytes - 4).
    parameter INPUT_BYTES = 12
) (
    input  wire                              clk,
    input  wire                              rst,

    input  wire [`FT_RSS_KEY_WORDS*32-1:0]   cfg_key,

    input  wire [INPUT_BYTES*8-1:0]          s_data,
    input  wire                              s_valid,

    output wire [31:0]                       m_hash,
    output wire                              m_valid
);

localparam KEY_BITS = `FT_RSS_KEY_WORDS * 32;
localparam IN_BITS = INPUT_BYTES * 8;

initial begin
    if (INPUT_BYTES < 1 || IN_BITS + 32 > KEY_BITS) begin
        $display("Error: INPUT_BYTES must be 1..KEY bytes - 4 (instance %m)");
        $finish;
    end
end

reg [31:0] hash;
integer i;
always @* begin
    hash = 32'd0;
    for (i = 0; i < IN_BITS; i = i + 1) begin
        if (s_data[IN_BITS-1-i]) begin
            hash = hash ^ cfg_key[KEY_BITS-1-i -: 32];
        end
    end
end

reg [31:0] hash_reg = 32'd0;
reg valid_reg = 1'b0;

always @(posedge clk) begin
    hash_reg <= hash;
    valid_reg <= s_valid;
    if (rst) begin
        valid_reg <= 1'b0;
    end
end

assign m_hash = hash_reg;
assign m_valid = valid_reg;

endmodule

`resetall
