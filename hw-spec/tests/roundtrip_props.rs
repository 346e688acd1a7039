//! Property tests: every descriptor, completion and command word round-trips, and decoding
//! arbitrary bytes either fails with a typed error or yields a value that re-encodes to the same
//! bytes (decoding is exact, never lossy).

use hw_spec::descriptors::{cpl, rxd, txd};
use hw_spec::{
    Completion, CompletionKind, CsumStatus, ErrorCode, L4Csum, QueueCommand, RssType, RxDescriptor,
    TxDescriptor, TxOffloadRequest,
};
use proptest::prelude::*;

fn l4() -> impl Strategy<Value = L4Csum> {
    prop::sample::select(L4Csum::ALL.to_vec())
}

fn offload() -> impl Strategy<Value = TxOffloadRequest> {
    (
        any::<bool>(),
        l4(),
        any::<bool>(),
        any::<u16>(),
        any::<u8>(),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(
            |(ip_csum, l4_csum, tso, mss, l2_len, l3_len, l4_len)| TxOffloadRequest {
                ip_csum,
                l4_csum,
                tso,
                mss,
                l2_len,
                l3_len,
                l4_len,
            },
        )
}

fn tx_descriptor() -> impl Strategy<Value = TxDescriptor> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
        offload(),
    )
        .prop_map(|(addr, len, sop, eop, offload)| TxDescriptor {
            addr,
            len,
            sop,
            eop,
            offload: if sop { offload } else { TxOffloadRequest::NONE },
        })
}

fn completion() -> impl Strategy<Value = Completion> {
    (
        (
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
        ),
        prop::sample::select(RssType::ALL.to_vec()),
        (
            any::<u16>(),
            any::<u8>(),
            prop::sample::select(ErrorCode::ALL.to_vec()),
        ),
        any::<u64>(),
        prop::sample::select(CsumStatus::ALL.to_vec()),
        prop::sample::select(CsumStatus::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_map(
            |(
                (rx, queue, index, len, rss_hash),
                rss_type,
                (segments, desc_count, error),
                timestamp,
                ip_csum,
                l4_csum,
                phase,
            )| {
                Completion {
                    kind: if rx {
                        CompletionKind::Rx
                    } else {
                        CompletionKind::Tx
                    },
                    queue,
                    index,
                    len,
                    rss_hash,
                    rss_type,
                    segments,
                    desc_count,
                    error,
                    timestamp,
                    ip_csum,
                    l4_csum,
                    phase,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn tx_descriptor_round_trip(d in tx_descriptor()) {
        prop_assert_eq!(TxDescriptor::decode(&d.encode()), Ok(d));
    }

    #[test]
    fn rx_descriptor_round_trip(addr in any::<u64>(), len in any::<u32>()) {
        let d = RxDescriptor { addr, len };
        prop_assert_eq!(RxDescriptor::decode(&d.encode()), Ok(d));
    }

    #[test]
    fn completion_round_trip(c in completion()) {
        let bytes = c.encode();
        prop_assert_eq!(Completion::phase_of(&bytes), c.phase);
        prop_assert_eq!(Completion::decode(&bytes), Ok(c));
    }

    #[test]
    fn command_round_trip(word in any::<u32>()) {
        if let Ok(cmd) = QueueCommand::decode(word) {
            prop_assert_eq!(cmd.encode(), word);
        }
    }

    #[test]
    fn arbitrary_tx_bytes_decode_exactly(bytes in prop::array::uniform32(any::<u8>())) {
        if let Ok(d) = TxDescriptor::decode(&bytes) {
            prop_assert_eq!(d.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_rx_bytes_decode_exactly(bytes in prop::array::uniform16(any::<u8>())) {
        if let Ok(d) = RxDescriptor::decode(&bytes) {
            prop_assert_eq!(d.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_completion_bytes_decode_exactly(bytes in prop::array::uniform32(any::<u8>())) {
        if let Ok(c) = Completion::decode(&bytes) {
            prop_assert_eq!(c.encode(), bytes);
        }
    }
}

#[test]
fn every_valid_command_round_trips() {
    let cmds = [
        QueueCommand::SetLog2Size(15),
        QueueCommand::SetCq(255),
        QueueCommand::SetProd(u16::MAX),
        QueueCommand::SetCons(7),
        QueueCommand::SetConsArm(8),
        QueueCommand::Arm,
        QueueCommand::SetIrq(3),
        QueueCommand::Enable,
        QueueCommand::Disable,
        QueueCommand::ResetPointers,
    ];
    for c in cmds {
        assert_eq!(QueueCommand::decode(c.encode()), Ok(c));
    }
}

#[test]
fn sizes_match_layouts() {
    assert_eq!(txd::SIZE, 32);
    assert_eq!(rxd::SIZE, 16);
    assert_eq!(cpl::SIZE, 32);
}
