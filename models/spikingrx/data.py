"""Sionna data pipeline for the SpikingRx zoo model: one SISO OFDM slot per example.

Transmitter and channel (all Sionna PHY blocks, PyTorch, CPU)::

    bits b  --Mapper(QAM)-->  x  --ResourceGridMapper-->  X[s, f]   (Kronecker pilots)
    Y[s, f] = H[s, f] X[s, f] + W[s, f],   W ~ CN(0, N0)            (OFDMChannel, 3GPP TDL)

with ``s`` the OFDM symbol (14) and ``f`` the subcarrier (72). Symbols and channel have
unit average energy, so the per-RE SNR is ``Es/N0 = 1/N0`` and ``N0 = 10^(-SNR_dB/10)``.

Receiver side, this module provides what every receiver of the comparison starts from:

* the received grid ``Y`` and the LS estimates at the pilots, ``H_ls = Y_p conj(P) / |P|^2``,
  spread over the grid by Sionna's interpolator (the network's input features);
* the classical baselines: LS or LMMSE channel estimation (or the true channel, "perfect
  CSI"), then LMMSE equalisation and APP demapping to one LLR per coded bit.

Tensor layouts: Sionna keeps grids as ``[..., symbols=14, subcarriers=72]``; the network sees
``[B, C, H=72 subcarriers, W=14 symbols]`` (the seed's ``[B, C_in, F, S]``), so
:func:`to_network_layout` transposes the last two axes. LLRs follow Sionna's convention
``LLR = log P(b=1) / P(b=0)``: a positive LLR decides bit 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from sionna.phy import config as sionna_config
from sionna.phy.channel import OFDMChannel
from sionna.phy.channel.tr38901 import CDL, TDL, AntennaArray
from sionna.phy.mapping import BinarySource, Demapper, Mapper
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import (
    LMMSEChannelEstimator,
    LMMSEEqualizer,
    LSChannelEstimator,
    ResourceGrid,
    ResourceGridMapper,
    tdl_freq_cov_mat,
    tdl_time_cov_mat,
)

# The Kronecker pilot sequence is drawn from Sionna's global RNG when the grid is built; a
# fixed seed makes it the same in training, evaluation and tests (a receiver trained with
# one pilot sequence is only valid for that sequence).
PILOT_SEED = 1234

MODULATIONS = {"qpsk": 2, "16qam": 4}


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines the simulated link (stored in the checkpoint's info)."""

    modulation: str = "16qam"               # "qpsk" | "16qam"
    num_subcarriers: int = 72               # 6 PRBs
    num_ofdm_symbols: int = 14              # one slot
    subcarrier_spacing: float = 30e3        # Hz (NR numerology 1)
    carrier_frequency: float = 3.5e9        # Hz
    pilot_ofdm_symbols: Tuple[int, ...] = (2, 11)
    channel_model: str = "tdl-c"            # "tdl-a".."tdl-e" or "cdl-a".."cdl-e"
    delay_spread: float = 100e-9            # s, TR 38.901 "nominal"
    min_speed: float = 0.0                  # m/s, UE speed drawn uniformly per slot
    max_speed: float = 20.0
    snr_db_range: Tuple[float, float] = (-5.0, 20.0)  # training SNRs, uniform per slot
    ls_interpolation: str = "lin"           # Sionna LS interpolator: "nn" | "lin"

    @property
    def bits_per_symbol(self) -> int:
        return MODULATIONS[self.modulation]

    @property
    def grid_hw(self) -> Tuple[int, int]:
        """Network layout (H, W) = (subcarriers, OFDM symbols)."""
        return self.num_subcarriers, self.num_ofdm_symbols

    def to_dict(self) -> Dict:
        d = asdict(self)
        d["pilot_ofdm_symbols"] = list(self.pilot_ofdm_symbols)
        d["snr_db_range"] = list(self.snr_db_range)
        return d

    @classmethod
    def from_dict(cls, d: Dict) -> "LinkConfig":
        d = dict(d)
        d["pilot_ofdm_symbols"] = tuple(d["pilot_ofdm_symbols"])
        d["snr_db_range"] = tuple(d["snr_db_range"])
        return cls(**d)


@dataclass
class Slots:
    """A batch of simulated slots, all in network layout ``[..., F=72, S=14]``.

    ``bits`` [B, bps, F, S] float {0,1} (0 at pilot REs), ``data_mask`` [F, S] bool,
    ``y`` / ``h`` / ``h_ls`` [B, F, S] complex64, ``no`` [B] float32 (N0 per slot),
    ``snr_db`` [B]. ``sionna`` keeps the Sionna-layout tensors the baselines need.
    """

    bits: torch.Tensor
    data_mask: torch.Tensor
    y: torch.Tensor
    h: torch.Tensor
    h_ls: torch.Tensor
    no: torch.Tensor
    snr_db: torch.Tensor
    sionna: Dict[str, torch.Tensor] = field(default_factory=dict, repr=False)


def snr_db_to_no(snr_db: torch.Tensor) -> torch.Tensor:
    """``N0 = 10^(-SNR/10)`` (unit-energy symbols, unit-power channel)."""
    return torch.pow(10.0, -snr_db / 10.0).to(torch.float32)


def to_network_layout(grid: torch.Tensor) -> torch.Tensor:
    """Sionna ``[..., S, F]`` -> network ``[..., F, S]``."""
    return grid.transpose(-1, -2)


class OFDMLink:
    """Builds the Sionna blocks once and simulates/receives batches of slots."""

    def __init__(self, cfg: LinkConfig = LinkConfig()):
        self.cfg = cfg
        sionna_config.seed = PILOT_SEED  # deterministic pilots (see PILOT_SEED)
        self.rg = ResourceGrid(
            num_ofdm_symbols=cfg.num_ofdm_symbols,
            fft_size=cfg.num_subcarriers,
            subcarrier_spacing=cfg.subcarrier_spacing,
            num_tx=1,
            num_streams_per_tx=1,
            pilot_pattern="kronecker",
            pilot_ofdm_symbol_indices=list(cfg.pilot_ofdm_symbols),
        )
        self.stream_management = StreamManagement(np.ones([1, 1], int), 1)
        bps = cfg.bits_per_symbol
        self.num_data_res = self.rg.num_data_symbols
        self.source = BinarySource()
        self.mapper = Mapper("qam", bps)
        self.rg_mapper = ResourceGridMapper(self.rg)
        self.channel_model = _make_channel_model(cfg)
        self.channel = OFDMChannel(self.channel_model, self.rg, normalize_channel=True, return_channel=True)
        self.ls_estimator = LSChannelEstimator(self.rg, interpolation_type=cfg.ls_interpolation)
        self.ls_nn_estimator = LSChannelEstimator(self.rg, interpolation_type="nn")
        self.lmmse_estimator = self._make_lmmse_estimator()
        self.equalizer = LMMSEEqualizer(self.rg, self.stream_management)
        self.demapper = Demapper("app", "qam", bps)
        # [S, F] bool, True where data is carried; row-major order = Sionna's data order
        pilot_mask = self.rg.pilot_pattern.mask[0, 0].bool()
        self.data_mask_sf = ~pilot_mask
        self.data_mask = to_network_layout(self.data_mask_sf).contiguous()

    # ----- transmitter + channel ---------------------------------------------------------
    def simulate(self, batch_size: int, snr_db, seed: int, bits: Optional[torch.Tensor] = None) -> Slots:
        """Draw ``batch_size`` slots; ``snr_db`` is a float, a [B] tensor, or None (uniform).

        ``bits`` [B, N_data * bps] (Sionna data order): transmit these (e.g. LDPC codewords)
        instead of uniform random bits.

        Everything random (bits, channel, noise, speeds, SNRs) comes from Sionna's
        generator seeded with ``seed``, so a (seed, batch_size) pair always gives the
        same slots.
        """
        cfg = self.cfg
        sionna_config.seed = int(seed)
        gen = sionna_config.torch_rng("cpu")
        if snr_db is None:
            lo, hi = cfg.snr_db_range
            snr_db = lo + (hi - lo) * torch.rand(batch_size, generator=gen)
        snr_db = torch.as_tensor(snr_db, dtype=torch.float32).expand(batch_size).clone()
        no = snr_db_to_no(snr_db)

        if bits is None:
            bits = self.source([batch_size, 1, 1, self.num_data_res * cfg.bits_per_symbol])
        else:
            bits = bits.to(torch.float32).reshape(batch_size, 1, 1, self.num_data_res * cfg.bits_per_symbol)
        x = self.mapper(bits)                          # [B, 1, 1, N_data]
        x_grid = self.rg_mapper(x)                     # [B, 1, 1, S, F]
        y, h = self.channel(x_grid, no)                # [B,1,1,S,F], [B,1,1,1,1,S,F]
        with torch.no_grad():
            h_ls, _ = self.ls_estimator(y, no)         # [B,1,1,1,1,S,F]
        return Slots(
            bits=self._bits_to_grid(bits[:, 0, 0]),
            data_mask=self.data_mask,
            y=to_network_layout(y[:, 0, 0]).contiguous(),
            h=to_network_layout(h[:, 0, 0, 0, 0]).contiguous(),
            h_ls=to_network_layout(h_ls[:, 0, 0, 0, 0]).contiguous(),
            no=no,
            snr_db=snr_db,
            sionna={"y": y, "h": h, "bits": bits},
        )

    def _bits_to_grid(self, bits: torch.Tensor) -> torch.Tensor:
        """[B, N_data*bps] (Sionna data order) -> [B, bps, F, S] with zeros at pilots."""
        B, bps = bits.shape[0], self.cfg.bits_per_symbol
        S, F = self.data_mask_sf.shape
        grid = torch.zeros(B, S * F, bps, dtype=torch.float32)
        grid[:, self.data_mask_sf.flatten()] = bits.reshape(B, self.num_data_res, bps).float()
        return to_network_layout(grid.reshape(B, S, F, bps).permute(0, 3, 1, 2)).contiguous()

    def grid_to_stream(self, grid: torch.Tensor) -> torch.Tensor:
        """Inverse of ``_bits_to_grid``: [B, bps, F, S] -> [B, N_data*bps] in Sionna data order."""
        B, bps = grid.shape[0], self.cfg.bits_per_symbol
        sf = grid.transpose(-1, -2).permute(0, 2, 3, 1).reshape(B, -1, bps)  # [B, S*F, bps]
        return sf[:, self.data_mask_sf.flatten()].reshape(B, -1)

    # ----- classical receivers -------------------------------------------------------------
    def baseline_llr(self, slots: Slots, method: str) -> torch.Tensor:
        """LLRs [B, bps, F, S] (0 at pilots) of a classical receiver.

        ``method``: ``"ls"`` (LS at pilots + ``cfg.ls_interpolation``), ``"ls-nn"`` (LS with
        nearest-neighbour interpolation), ``"lmmse"`` (Sionna's time/frequency LMMSE
        estimator), or ``"perfect"`` (true channel, zero error variance). Each is followed
        by LMMSE equalisation ``x_hat = h* y / (|h|^2 + N0 + err_var)`` (per RE, SISO) and
        APP demapping with the post-equalisation noise ``no_eff``.
        """
        y, no = slots.sionna["y"], slots.no
        with torch.no_grad():
            if method == "perfect":
                h_hat, err_var = slots.sionna["h"], torch.zeros(())
            elif method == "ls":
                h_hat, err_var = self.ls_estimator(y, no)
            elif method == "ls-nn":
                h_hat, err_var = self.ls_nn_estimator(y, no)
            elif method == "lmmse":
                if self.lmmse_estimator is None:
                    raise ValueError("LMMSE estimation needs the closed-form covariances of a TDL model")
                h_hat, err_var = self.lmmse_estimator(y, no)
            else:
                raise ValueError(f"unknown baseline {method!r}")
            x_hat, no_eff = self.equalizer(y, h_hat, err_var, no)   # [B, 1, 1, N_data]
            llr = self.demapper(x_hat, no_eff)                      # [B, 1, 1, N_data*bps]
        return self._bits_to_grid(llr[:, 0, 0])

    def _make_lmmse_estimator(self) -> Optional[LMMSEChannelEstimator]:
        """Sionna's LMMSE estimator with the channel's true second-order statistics.

        Only TDL models have closed-form covariances in Sionna (``tdl_freq_cov_mat``,
        ``tdl_time_cov_mat``); the speed is uniform on [min_speed, max_speed], so the
        time covariance is the average of ``R_t(v)`` over that range (covariances are
        linear in the speed distribution).
        """
        cfg = self.cfg
        family, profile = _split_model(cfg.channel_model)
        if family != "tdl":
            return None
        r_f = tdl_freq_cov_mat(profile, cfg.subcarrier_spacing, cfg.num_subcarriers, cfg.delay_spread)
        speeds = np.linspace(cfg.min_speed, cfg.max_speed, 21)
        r_t = sum(
            tdl_time_cov_mat(profile, float(v), cfg.carrier_frequency, self.rg.ofdm_symbol_duration,
                             cfg.num_ofdm_symbols)
            for v in speeds
        ) / len(speeds)
        return LMMSEChannelEstimator(self.rg, r_t, r_f, order="f-t")


def _split_model(name: str) -> Tuple[str, str]:
    family, _, profile = name.lower().partition("-")
    if family not in ("tdl", "cdl") or not profile:
        raise ValueError(f"channel_model must look like 'tdl-c' or 'cdl-a', got {name!r}")
    return family, profile.upper()


def _make_channel_model(cfg: LinkConfig):
    """3GPP TR 38.901 TDL (SISO) or CDL (single-antenna arrays) with a UE speed range."""
    family, profile = _split_model(cfg.channel_model)
    if family == "tdl":
        return TDL(profile, delay_spread=cfg.delay_spread, carrier_frequency=cfg.carrier_frequency,
                   min_speed=cfg.min_speed, max_speed=cfg.max_speed)
    ant = dict(num_rows=1, num_cols=1, polarization="single", polarization_type="V",
               antenna_pattern="38.901", carrier_frequency=cfg.carrier_frequency)
    return CDL(profile, cfg.delay_spread, cfg.carrier_frequency, AntennaArray(**ant), AntennaArray(**ant),
               direction="uplink", min_speed=cfg.min_speed, max_speed=cfg.max_speed)


# ----- network features ----------------------------------------------------------------------

NEIGHBOURS = 3  # K: products with the LS estimates of subcarriers f-K .. f+K


def in_channels(neighbours: int = NEIGHBOURS) -> int:
    """C_in = 4 (Y, H_ls) + 3 per neighbour offset (Re/Im of Y conj(H), |H|^2) + 1 (N0)."""
    return 4 + 3 * (2 * neighbours + 1) + 1


def shift_subcarriers(grid: torch.Tensor, k: int) -> torch.Tensor:
    """``out[..., f, s] = grid[..., clamp(f + k), s]`` on a [B, F, S] grid (edge replicated)."""
    F = grid.shape[-2]
    idx = (torch.arange(F) + k).clamp(0, F - 1)
    return grid[..., idx, :]


def features(slots: Slots, neighbours: int = NEIGHBOURS) -> torch.Tensor:
    """Network input [B, C_in, F, S] from the received grid ``Y`` and the LS estimates ``H``.

    With ``H_k[f, s] = H_ls[f + k, s]`` (``k = -K..K``) and the local pilot power
    ``P = mean_k |H_k|^2 + eps``, the channels are

    * ``Re, Im of Y / sqrt(P)`` and ``H_ls / sqrt(P)`` (the receive grid and pilot estimates);
    * per offset k: ``Re, Im of Y conj(H_k) / P`` and ``|H_k|^2 / P``;
    * ``N0 / P`` (local noise-to-signal ratio; the classical receivers are given N0 too).

    ``H_ls`` is the LS estimate at the pilot REs spread over the grid by the LS interpolator,
    so every data RE has a pilot-derived estimate nearby.

    Why products: detection needs ``conj(h) y`` and ``|h|^2`` (QAM decisions are thresholds
    on ``Re/Im conj(h) y`` relative to ``|h|^2``), and a conv/LIF stack only forms weighted
    sums and thresholds, not products of two inputs (the reason for DeepRx-MIMO's
    multiplicative pre-processing). With products against the *shifted* estimates, a weighted
    sum over k in the first conv is exactly a matched filter with a learned frequency
    smoothing of the estimate, ``sum_k w_k Y conj(H_k) = Y conj(sum_k w_k H_k)``: where a
    receiver gains over plain LS. The network learns ``w_k`` and the demapping thresholds.

    Why divide by ``P`` (an automatic gain control): every decision above is homogeneous in
    the channel gain, and a neuron's threshold is a fixed offset, so without it the decision
    boundaries of a faded RE (small ``|h|``) would collapse towards the offset. After the
    division the features do not change when the channel is scaled, ``h -> a h``, ``N0 -> |a|^2 N0``.
    """
    y, h = slots.y, slots.h_ls
    shifted = [shift_subcarriers(h, k) for k in range(-neighbours, neighbours + 1)]
    powers = [hk.real ** 2 + hk.imag ** 2 for hk in shifted]
    p = torch.stack(powers).mean(0) + 1e-6
    rp = p.sqrt()
    chans = [y.real / rp, y.imag / rp, h.real / rp, h.imag / rp]
    for hk, pk in zip(shifted, powers):
        z = y * hk.conj()
        chans += [z.real / p, z.imag / p, pk / p]
    chans.append(slots.no[:, None, None] / p)
    return torch.stack(chans, dim=1).float()


IN_CHANNELS = in_channels()


def bit_errors(llr: torch.Tensor, bits: torch.Tensor, data_mask: torch.Tensor) -> Tuple[int, int]:
    """(errors, bits) over data REs; hard decision ``b_hat = [LLR > 0]``."""
    mask = data_mask.expand_as(bits)
    err = ((llr > 0).float() != bits) & mask
    return int(err.sum()), int(mask.sum())
