"""The gold file of ``madgen mine``: a ``GoldSample`` as HDF5 (layout: docs/mining.md), written
atomically and read back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from madgen.inference.errors import InferenceError

GOLD_FORMAT = "madgen-gold"
GOLD_VERSION = 1


@dataclass(frozen=True)
class GoldSample:
    """Events at theta_ref with their gold (see docs/mining.md for the HDF5 layout)."""

    process: str
    names: tuple[str, ...]
    theta_ref: np.ndarray  # (k,)
    thetas: np.ndarray  # (m, k)
    momenta: np.ndarray  # (N, n, 4)
    pdg_ids: np.ndarray  # (N, n)
    subprocess: np.ndarray  # (N,)
    log_me2: np.ndarray  # (N,) log |M|^2 at theta_ref
    log_r: np.ndarray  # (N, m) log p(z|theta_ref) / p(z|theta_i)
    score: np.ndarray  # (N, k) joint score at theta_ref
    sigma_ref_pb: float
    sigma_ref_error_pb: float
    sigma_gradient_pb: np.ndarray  # (k,)
    sigma_gradient_error_pb: np.ndarray  # (k,)
    sigma_pb: np.ndarray  # (m,)
    sigma_error_pb: np.ndarray  # (m,)
    log_sigma_ratio_error: np.ndarray  # (m,) MC error of log sigma(theta_i) / sigma(theta_ref) (shared sample)
    fisher: np.ndarray  # (k, k) per event
    fisher_error: np.ndarray  # (k, k)
    parameters: dict = field(default_factory=dict)  # complete external parameters at theta_ref
    metadata: dict = field(default_factory=dict)
    fractions: np.ndarray | None = None  # (N, 2) x1, x2 of the incoming partons (1 for particle beams)
    scales: np.ndarray | None = None  # (N, 2) muR, muF in GeV
    latent: np.ndarray | None = None  # (N, 4) x1, x2, cos theta*, phi* when theta moves a mass (2 -> 2)

    def __len__(self) -> int:
        return len(self.momenta)


def check_gold_output(path) -> None:
    """Before mining: ``path`` must be a file in an existing directory, and an existing file there is
    replaced only if it is a madgen gold file."""
    from madgen.output import check_replaceable_file

    check_replaceable_file(Path(path), "gold file (HDF5)", _is_gold_file, InferenceError)


def _is_gold_file(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return h5.attrs.get("format") == GOLD_FORMAT
    except OSError:
        return False


def write_gold(path, gold: GoldSample) -> Path:
    """The gold sample as HDF5 (layout: docs/mining.md), written atomically."""
    import h5py

    from madgen.output import atomic_file
    from madgen.version import __version__

    path = Path(path)
    with atomic_file(path, "wb") as stream, h5py.File(stream, "w") as h5:
        h5.attrs.update({"format": GOLD_FORMAT, "version": GOLD_VERSION, "madgen_version": __version__,
                         "process": gold.process, "n_events": len(gold),
                         "parameters": json.dumps(gold.parameters), "metadata": json.dumps(gold.metadata)})
        events = h5.create_group("events")
        for name in ("momenta", "pdg_ids", "subprocess", "fractions", "scales", "latent"):
            if getattr(gold, name) is not None:
                events.create_dataset(name, data=getattr(gold, name), compression="gzip")
        theta = h5.create_group("parameters")
        theta.create_dataset("names", data=np.array(gold.names, dtype="S"))
        theta.create_dataset("theta_ref", data=gold.theta_ref)
        theta.create_dataset("thetas", data=gold.thetas.reshape(-1, len(gold.names)))
        labels = h5.create_group("gold")
        for name in ("log_me2", "log_r", "score"):
            labels.create_dataset(name, data=getattr(gold, name), compression="gzip")
        xsec = h5.create_group("cross_section")
        for name in ("sigma_ref_pb", "sigma_ref_error_pb", "sigma_gradient_pb", "sigma_gradient_error_pb",
                     "sigma_pb", "sigma_error_pb", "log_sigma_ratio_error"):
            xsec.create_dataset(name, data=np.asarray(getattr(gold, name), dtype=float))
        fisher = h5.create_group("fisher")
        fisher.create_dataset("information", data=gold.fisher)
        fisher.create_dataset("error", data=gold.fisher_error)
    return path


def read_gold(path) -> GoldSample:
    """Read a file written by :func:`write_gold` (or ``madgen mine``)."""
    import h5py

    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise InferenceError(f"cannot read gold file {path}: {error}") from None
    with h5:
        if h5.attrs.get("format") != GOLD_FORMAT:
            raise InferenceError(f"{path} is not a madgen gold file (attribute format={h5.attrs.get('format')!r})")
        if int(h5.attrs["version"]) > GOLD_VERSION:
            raise InferenceError(f"{path} has gold layout version {h5.attrs['version']}; this madgen reads "
                                 f"up to {GOLD_VERSION}: upgrade madgen")
        xsec = {name: h5["cross_section"][name][()] for name in h5["cross_section"]}
        return GoldSample(
            str(h5.attrs["process"]), tuple(n.decode() for n in h5["parameters/names"][()]),
            h5["parameters/theta_ref"][()], h5["parameters/thetas"][()], h5["events/momenta"][()],
            h5["events/pdg_ids"][()], h5["events/subprocess"][()], h5["gold/log_me2"][()], h5["gold/log_r"][()],
            h5["gold/score"][()], float(xsec["sigma_ref_pb"]), float(xsec["sigma_ref_error_pb"]),
            xsec["sigma_gradient_pb"], xsec["sigma_gradient_error_pb"], xsec["sigma_pb"], xsec["sigma_error_pb"],
            xsec["log_sigma_ratio_error"],
            h5["fisher/information"][()], h5["fisher/error"][()], json.loads(h5.attrs["parameters"]),
            json.loads(h5.attrs["metadata"]),
            *(h5["events"][name][()] if name in h5["events"] else None for name in ("fractions", "scales", "latent")))
