// Protocol field offsets the ferrotoe engines parse (IEEE 802.3, RFC 791, RFC 793, RFC 768).
//
// These are facts of the wire formats, not of the ferrotoe contract: everything the contract
// defines (checksum field offsets, protocol numbers, header length limits, descriptor fields,
// enumerations) comes from the generated `ferrotoe_hw_spec.vh`. Offsets are in bytes from the
// start of the header named in the macro.
`ifndef FT_PROTO_VH
`define FT_PROTO_VH

`define FT_ETH_TYPE_OFFSET 12        // Ethernet: ethertype, bytes 12-13 of the frame
`define FT_ETH_HDR_LEN 14            // Ethernet II header without VLAN tag
`define FT_IPV4_VIHL_OFFSET 0        // IPv4: version (7:4) and IHL (3:0)
`define FT_IPV4_TOTAL_LEN_OFFSET 2   // IPv4: total length, 2 bytes
`define FT_IPV4_ID_OFFSET 4          // IPv4: identification, 2 bytes
`define FT_IPV4_FRAG_OFFSET 6        // IPv4: flags and fragment offset, 2 bytes
`define FT_IPV4_PROTO_OFFSET 9       // IPv4: protocol
`define FT_IPV4_ADDRS_OFFSET 12      // IPv4: source then destination address, 8 bytes
`define FT_IPV4_MIN_HDR_LEN 20       // IPv4: header without options (IHL 5)
`define FT_IPV4_VERSION 4            // IPv4: the version number
`define FT_L4_PORTS_LEN 4            // TCP/UDP: source then destination port, 4 bytes at offset 0
`define FT_TCP_SEQ_OFFSET 4          // TCP: sequence number, 4 bytes
`define FT_TCP_DOFF_OFFSET 12        // TCP: data offset (7:4), reserved, NS (bit 0)
`define FT_TCP_FLAGS_OFFSET 13       // TCP: CWR ECE URG ACK PSH RST SYN FIN
`define FT_TCP_FLAGS_WIDTH 9         // TCP: NS plus the eight flags of byte 13

`endif // FT_PROTO_VH
