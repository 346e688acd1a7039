#!/usr/bin/env bash
# Synthesises each rtl-sim engine with Yosys and prints its cell counts.
#
#   rtl-sim/rtl/synth.sh [DATA_WIDTH] [TARGET]      # defaults: 512 xilinx
#   TOPS=device rtl-sim/rtl/synth.sh 512           # the device and its queue engine modules
#
# TOPS selects the modules: a list of module names, `device` for the device's modules (ft_device
# and ft_txq take 20-30 minutes each at 512 bits), or nothing for the offload engines.
# TARGET `xilinx` runs `synth_xilinx -flatten` (7-series/UltraScale primitives: LUTs, FFs,
# carry chains, block RAM for the frame ring); `generic` runs `synth -flatten` (gate-level
# cells, memories as flip-flops). Logs go to rtl-sim/rtl/synth-out/<top>-<width>-<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
WIDTH="${1:-512}"
TARGET="${2:-xilinx}"
SPEC=../../hw-spec/generated
OUT=synth-out
mkdir -p "$OUT"
case "$TARGET" in
    xilinx) SYNTH="synth_xilinx -flatten" ;;
    generic) SYNTH="synth -flatten" ;;
    *) echo "unknown target $TARGET (xilinx or generic)" >&2; exit 2 ;;
esac
DEVICE_TOPS="ft_gather ft_dma_rd_mux ft_dma_wr_mux ft_stats ft_cpl ft_regs ft_rxq ft_txq ft_device"
TOPS="${TOPS:-ft_csum_reduce ft_tx_validate ft_tso ft_tx_csum ft_tx_engine ft_rss_toeplitz ft_rx_csum}"
if [ "$TOPS" = device ]; then
    TOPS="$DEVICE_TOPS"
fi
for top in $TOPS; do
    log="$OUT/$top-$WIDTH-$TARGET.log"
    param=""
    if grep -q "parameter DATA_WIDTH" "$top.v"; then
        param="chparam -set DATA_WIDTH $WIDTH $top;"
    fi
    start=$(date +%s)
    yosys -q -l "$log" -p "read_verilog -defer -I$SPEC -I. ft_*.v; $param hierarchy -top $top; $SYNTH -top $top; tee -o $OUT/$top-$WIDTH-$TARGET.stat stat" >/dev/null
    end=$(date +%s)
    cells=$(grep -E "Number of cells:" "$OUT/$top-$WIDTH-$TARGET.stat" | tail -1 | awk '{print $4}')
    echo "$top DATA_WIDTH=$WIDTH $TARGET: $cells cells ($((end - start)) s)"
done
