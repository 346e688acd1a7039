// ft_dma_wr_mux: two DMA write clients on one DMA write master interface.
//
// Owns: request arbitration (round robin), keeping each write's data beats together behind its
// request (the channel belongs to the granted client from its request to its last data beat),
// and the routing of write responses back by the top bit of the tag (the client number).
//
// The DMA write interface: a request writes LEN bytes at ADDR (an IOVA); its data follows on
// the data channel in beats packed from lane 0 (keep contiguous, all lanes but on the last
// beat). The response says whether it was done or faulted (FAULT_ADDR the first unmapped
// IOVA; nothing is written then). The DMA side makes a write's last byte visible last, which
// completions rely on (their PHASE bit is in the last byte). Must not: look at data.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module ft_dma_wr_mux #(
    // Beat width in bits.
    parameter DATA_WIDTH = 512,
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
    // Clients: data
    input  wire [1:0]                              s_valid,
    output wire [1:0]                              s_ready,
    input  wire [2*DATA_WIDTH-1:0]                 s_data,
    input  wire [2*KEEP_WIDTH-1:0]                 s_keep,
    input  wire [1:0]                              s_last,
    // Clients: responses
    output wire [1:0]                              m_rsp_valid,
    input  wire [1:0]                              m_rsp_ready,
    output wire                                    m_rsp_fault,
    output wire [63:0]                             m_rsp_fault_addr,

    // Master
    output wire                                    m_dma_wr_req_valid,
    input  wire                                    m_dma_wr_req_ready,
    output wire [63:0]                             m_dma_wr_req_addr,
    output wire [31:0]                             m_dma_wr_req_len,
    output wire                                    m_dma_wr_req_tag,
    output wire                                    m_dma_wr_valid,
    input  wire                                    m_dma_wr_ready,
    output wire [DATA_WIDTH-1:0]                   m_dma_wr_data,
    output wire [KEEP_WIDTH-1:0]                   m_dma_wr_keep,
    output wire                                    m_dma_wr_last,
    input  wire                                    s_dma_wr_rsp_valid,
    output wire                                    s_dma_wr_rsp_ready,
    input  wire                                    s_dma_wr_rsp_fault,
    input  wire [63:0]                             s_dma_wr_rsp_fault_addr,
    input  wire                                    s_dma_wr_rsp_tag
);

reg last_reg = 1'b1;
reg busy_reg = 1'b0;     // a granted write's data is still to come
reg owner_reg = 1'b0;
wire pick = (s_req_valid == 2'b11) ? !last_reg : s_req_valid[1];
wire req_fire = m_dma_wr_req_valid && m_dma_wr_req_ready;
wire data_fire = m_dma_wr_valid && m_dma_wr_ready;

always @(posedge clk) begin
    if (req_fire) begin
        last_reg <= pick;
        owner_reg <= pick;
        busy_reg <= 1'b1;
    end
    if (data_fire && m_dma_wr_last) begin
        busy_reg <= 1'b0;
    end
    if (rst) begin
        last_reg <= 1'b1;
        busy_reg <= 1'b0;
        owner_reg <= 1'b0;
    end
end

assign m_dma_wr_req_valid = !busy_reg && s_req_valid != 2'b00;
assign m_dma_wr_req_addr = s_req_addr[pick*64 +: 64];
assign m_dma_wr_req_len = s_req_len[pick*32 +: 32];
assign m_dma_wr_req_tag = pick;
assign s_req_ready = {!busy_reg && m_dma_wr_req_ready && pick,
                      !busy_reg && m_dma_wr_req_ready && !pick};

assign m_dma_wr_valid = busy_reg && s_valid[owner_reg];
assign m_dma_wr_data = s_data[owner_reg*DATA_WIDTH +: DATA_WIDTH];
assign m_dma_wr_keep = s_keep[owner_reg*KEEP_WIDTH +: KEEP_WIDTH];
assign m_dma_wr_last = s_last[owner_reg];
assign s_ready = {busy_reg && owner_reg && m_dma_wr_ready,
                  busy_reg && !owner_reg && m_dma_wr_ready};

assign m_rsp_valid = {s_dma_wr_rsp_valid && s_dma_wr_rsp_tag,
                      s_dma_wr_rsp_valid && !s_dma_wr_rsp_tag};
assign s_dma_wr_rsp_ready = m_rsp_ready[s_dma_wr_rsp_tag];
assign m_rsp_fault = s_dma_wr_rsp_fault;
assign m_rsp_fault_addr = s_dma_wr_rsp_fault_addr;

endmodule

`resetall
