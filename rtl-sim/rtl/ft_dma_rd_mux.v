// ft_dma_rd_mux: two DMA read clients on one DMA read master interface.
//
// Owns: request arbitration (round robin, so neither client can starve the other) and the
// routing of response beats back to the client that asked, by the top bit of the tag (the
// client number; the lower bits are the client's own tag, returned unchanged).
//
// The DMA read interface: a request asks for LEN bytes at ADDR (an IOVA), or with CHECK only
// whether they are mapped. The response is either the bytes, packed from lane 0 in beats of
// DATA_WIDTH/8 bytes (keep contiguous from lane 0, all lanes but on the last beat), or one
// beat with FAULT set and FAULT_ADDR the first IOVA that is not mapped (nothing is read then);
// a CHECK that passes answers one beat with neither data nor fault. Responses come back in
// request order, each whole before the next. Must not: look at data.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module ft_dma_rd_mux #(
    // Beat width in bits.
    parameter DATA_WIDTH = 512,
    // Client tag bits (the master's tag has one more, the client number on top).
    parameter TAG_WIDTH = 3,
    // Derived, do not override.
    parameter KEEP_WIDTH = DATA_WIDTH / 8
) (
    input  wire                                    clk,
    input  wire                                    rst,

    // Clients: requests
    input  wire [1:0]                              s_req_valid,
    output wire [1:0]                              s_req_ready,
    input  wire [2*64-1:0]                         s_req_addr,
    input  wire [2*32-1:0]                         s_req_len,
    input  wire [2*TAG_WIDTH-1:0]                  s_req_tag,
    input  wire [1:0]                              s_req_check,
    // Clients: responses (shared data, per-client valid/ready)
    output wire [1:0]                              m_rsp_valid,
    input  wire [1:0]                              m_rsp_ready,
    output wire [DATA_WIDTH-1:0]                   m_rsp_data,
    output wire [KEEP_WIDTH-1:0]                   m_rsp_keep,
    output wire                                    m_rsp_last,
    output wire                                    m_rsp_fault,
    output wire [63:0]                             m_rsp_fault_addr,
    output wire [TAG_WIDTH-1:0]                    m_rsp_tag,

    // Master
    output wire                                    m_dma_rd_req_valid,
    input  wire                                    m_dma_rd_req_ready,
    output wire [63:0]                             m_dma_rd_req_addr,
    output wire [31:0]                             m_dma_rd_req_len,
    output wire [TAG_WIDTH:0]                      m_dma_rd_req_tag,
    output wire                                    m_dma_rd_req_check,
    input  wire                                    s_dma_rd_rsp_valid,
    output wire                                    s_dma_rd_rsp_ready,
    input  wire [DATA_WIDTH-1:0]                   s_dma_rd_rsp_data,
    input  wire [KEEP_WIDTH-1:0]                   s_dma_rd_rsp_keep,
    input  wire                                    s_dma_rd_rsp_last,
    input  wire                                    s_dma_rd_rsp_fault,
    input  wire [63:0]                             s_dma_rd_rsp_fault_addr,
    input  wire [TAG_WIDTH:0]                      s_dma_rd_rsp_tag
);

// Round robin: the client not served last wins a tie.
reg last_reg = 1'b1;
wire pick = (s_req_valid == 2'b11) ? !last_reg : s_req_valid[1];

always @(posedge clk) begin
    if (m_dma_rd_req_valid && m_dma_rd_req_ready) begin
        last_reg <= pick;
    end
    if (rst) begin
        last_reg <= 1'b1;
    end
end

assign m_dma_rd_req_valid = s_req_valid != 2'b00;
assign m_dma_rd_req_addr = s_req_addr[pick*64 +: 64];
assign m_dma_rd_req_len = s_req_len[pick*32 +: 32];
assign m_dma_rd_req_tag = {pick, s_req_tag[pick*TAG_WIDTH +: TAG_WIDTH]};
assign m_dma_rd_req_check = s_req_check[pick];
assign s_req_ready = {m_dma_rd_req_ready && pick, m_dma_rd_req_ready && !pick};

wire to = s_dma_rd_rsp_tag[TAG_WIDTH];
assign m_rsp_valid = {s_dma_rd_rsp_valid && to, s_dma_rd_rsp_valid && !to};
assign s_dma_rd_rsp_ready = m_rsp_ready[to];
assign m_rsp_data = s_dma_rd_rsp_data;
assign m_rsp_keep = s_dma_rd_rsp_keep;
assign m_rsp_last = s_dma_rd_rsp_last;
assign m_rsp_fault = s_dma_rd_rsp_fault;
assign m_rsp_fault_addr = s_dma_rd_rsp_fault_addr;
assign m_rsp_tag = s_dma_rd_rsp_tag[TAG_WIDTH-1:0];

endmodule

`resetall
