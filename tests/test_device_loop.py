"""The event loop on the device: VEGAS maps applied in JAX against the vegas package, grid
adaptation from device histograms against vegas' own training, systematic channel choice, robust
maximum weights, hit-or-miss, and the prepared run (immutable, reproducible, its pure weight function)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import vegas

from madgen.runtime.grids import Grid, accumulate_histograms, add_in_a_fixed_order, map_points, sorted_segment_add
from madgen.runtime.sampler import _unweight, cumulative_fractions, systematic_channels


def trained_vegas_map(seed=0, ndim=3, ninc=50):
    """A vegas AdaptiveMap adapted twice to a peaked function: non-uniform increments."""
    rng = np.random.default_rng(seed)
    adaptive = vegas.AdaptiveMap([[0.0, 1.0]] * ndim, ninc=ninc)
    for _ in range(2):
        y = rng.random((20000, ndim))
        x, jac = np.empty_like(y), np.empty(len(y))
        adaptive.map(y, x, jac)
        f = jac * np.exp(-np.sum((x - 0.3) ** 2, axis=1) / 0.01)
        adaptive.add_training_data(y, f ** 2)
        adaptive.adapt(alpha=0.5)
    return adaptive


def test_grid_map_matches_vegas():
    adaptive = trained_vegas_map()
    grid = Grid(np.asarray(adaptive.grid))
    y = np.random.default_rng(1).random((1000, 3))
    x_ref, jac_ref = np.empty_like(y), np.empty(len(y))
    adaptive.map(y, x_ref, jac_ref)
    x, jac, index = map_points(jnp.asarray(grid.edges), jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(x), x_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.asarray(jac), jac_ref, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(index), np.floor(y * grid.ninc).astype(int))
    # per-point grids: channel 1's grid is the trained one, channel 0's is uniform
    stacked = jnp.asarray(np.stack([Grid.uniform(3, grid.ninc).edges, grid.edges]))
    x2, jac2, _ = map_points(stacked, jnp.asarray(y), jnp.asarray(np.arange(1000) % 2))
    np.testing.assert_allclose(np.asarray(x2)[1::2], x_ref[1::2], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.asarray(x2)[::2], y[::2], rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jac2)[::2], 1.0, rtol=1e-12)


def test_adaptation_from_device_histograms_equals_vegas_training():
    """The same points and training values: vegas' add_training_data + adapt, and our histograms
    accumulated in JAX fed to vegas, give the same new grid."""
    adaptive = trained_vegas_map(seed=2)
    grid = Grid(np.asarray(adaptive.grid))
    rng = np.random.default_rng(3)
    y = rng.random((5000, 3))
    f = rng.exponential(size=5000) * (1 + 10 * (y[:, 0] < 0.2))
    adaptive.add_training_data(y, f)
    adaptive.adapt(alpha=0.7)
    _, _, index = map_points(jnp.asarray(grid.edges), jnp.asarray(y))
    sums, counts = accumulate_histograms(jnp.zeros((1, 3, grid.ninc)), jnp.zeros((1, 3, grid.ninc)),
                                         jnp.zeros(5000, dtype=jnp.int32), index, jnp.asarray(f),
                                         jnp.ones(5000, dtype=bool))
    np.testing.assert_allclose(np.asarray(counts).sum(axis=-1), 5000)
    adapted = grid.adapted(np.asarray(sums)[0], np.asarray(counts)[0], alpha=0.7)
    np.testing.assert_allclose(adapted.edges, np.asarray(adaptive.grid), rtol=1e-12, atol=1e-14)
    assert not adapted.edges.flags.writeable
    assert Grid.uniform(2).adapted(np.zeros((2, 500)), np.zeros((2, 500))).ndim == 2  # no training: unchanged


def test_gpu_histograms_add_in_an_order_fixed_by_the_data():
    """A scatter-add on a GPU sums with atomics in an order that changes from run to run (one seed, other
    grids and events); there the histograms are summed after a stable sort, by a segmented scan. That
    path against numpy's ordered add (empty bins, long runs, one bin hit once), and chosen for cuda and
    rocm only (the lowered programmes)."""
    rng = np.random.default_rng(5)
    target = rng.random((2, 3, 40))
    rows, dims = rng.integers(0, 2, 3000), rng.integers(0, 3, 3000)
    index = np.where(rng.random(3000) < 0.3, 7, rng.integers(0, 20, 3000))  # bins 20..39 stay empty
    index[0], rows[0], dims[0] = 33, 1, 2  # a bin with one entry
    values = rng.exponential(size=3000) * 10.0 ** rng.integers(-8, 8, 3000)
    expected = target.copy()
    np.add.at(expected, (rows, dims, index), values)
    flat = jnp.asarray(np.ravel_multi_index((rows, dims, index), target.shape))
    got = np.asarray(jax.jit(sorted_segment_add)(jnp.asarray(target), flat, jnp.asarray(values)))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(got[:, :, 20:33], target[:, :, 20:33])
    arguments = (jnp.asarray(target), tuple(jnp.asarray(a) for a in (rows, dims, index)), jnp.asarray(values))
    on_cpu = np.asarray(jax.jit(add_in_a_fixed_order)(*arguments))
    np.testing.assert_allclose(on_cpu, expected, rtol=1e-13, atol=0)

    def lowered(platform):
        return jax.export.export(jax.jit(add_in_a_fixed_order), platforms=[platform])(*arguments).mlir_module()

    assert "stablehlo.sort" in lowered("cuda") and "stablehlo.sort" in lowered("rocm")
    assert "stablehlo.sort" not in lowered("cpu")


def test_iterations_are_averaged_without_favouring_low_estimates():
    """Iterations of a channel whose weights are heavy-tailed (0.1 % of its points, in a region its grid
    rarely samples, carry half its integral): the average weighted by points is unbiased over 2000
    repeated runs of 10 iterations of 200 points, and its error matches the spread of the runs; weights
    1 / sdev^2 would favour the iterations that missed the region (their sdev is 0) and give about half."""
    from madgen.runtime.integrate import _Average

    rng = np.random.default_rng(3)
    exact = 0.999 * 0.5 + 0.001 * 500.0
    runs, errors = [], []
    for _ in range(2000):
        average = _Average()
        for _ in range(10):
            w = np.where(rng.random(200) < 0.001, 500.0, 0.5)
            average.add(float(w.mean()), float(w.std(ddof=1) / np.sqrt(len(w))), len(w))
        runs.append(average.mean)
        errors.append(average.sdev)
        assert average.n_points == 2000 and average.n_iterations == 10
    runs = np.asarray(runs)
    assert abs(runs.mean() - exact) < 4 * runs.std() / np.sqrt(len(runs)), (runs.mean(), exact)
    assert np.sqrt(np.mean(np.square(errors))) == pytest.approx(runs.std(), rel=0.1)


def test_systematic_channel_choice_keeps_the_fractions():
    fractions = np.array([0.5, 0.0, 0.3004, 0.1996])
    cumulative = jnp.asarray(cumulative_fractions(fractions))
    totals = np.zeros(4)
    for shift in np.linspace(0.001, 0.999, 37):
        counts = np.bincount(np.asarray(systematic_channels(shift, cumulative, 1000)), minlength=4)
        assert np.all(np.abs(counts - 1000 * fractions) < 1.0 + 1e-9)  # floor or ceil of the expectation
        totals += counts
    assert totals[1] == 0
    np.testing.assert_allclose(totals / totals.sum(), fractions, atol=1e-3)


def test_hit_or_miss_on_the_device_accepts_in_proportion_and_puts_accepted_first():
    from madgen.runtime.integrand import Evaluation
    from madgen.runtime.sampler import Batch

    n = 20000
    rng = np.random.default_rng(4)
    weight = rng.random(n) * 2.0
    channel = (np.arange(n) % 2).astype(np.int32)
    densities = np.stack([np.ones(n), 3 * np.ones(n)], axis=1)  # member 1 three times as likely
    zeros = jnp.zeros(n)
    evaluation = Evaluation(jnp.asarray(weight), jnp.zeros((n, 4, 4)), zeros, zeros, zeros, zeros, zeros, zeros,
                            jnp.asarray(densities))
    batch = Batch(jnp.asarray(weight), jnp.asarray(channel), jnp.zeros((n, 2), dtype=jnp.int32),
                  jnp.ones(n, dtype=bool), jnp.zeros((n, 2)), jnp.ones(n), evaluation)
    accepted = jax.jit(_unweight)(batch, jax.random.key(5), jnp.asarray([0.5, 0.5]), 4.0)
    count = int(accepted.count)
    expected = np.sum(np.minimum(weight / 0.5 / 4.0, 1.0))
    assert abs(count - expected) < 4 * np.sqrt(expected)
    kept = np.asarray(accepted.evaluation.weight)[:count]
    assert np.all(kept > 0) and abs(np.mean(kept) - np.sum(weight ** 2) / np.sum(weight)) < 0.05
    member = np.asarray(accepted.member)[:count]
    assert abs(np.mean(member) - 0.75) < 4 * np.sqrt(0.75 * 0.25 / count)
    assert int(accepted.over) == 0


def test_hit_or_miss_of_a_signed_integrand_accepts_in_proportion_to_the_magnitude():
    """Weights of both signs: accepted with probability |W| / W_max; the accepted events keep the sign of
    their integrand (evaluation.weight), negative in the share the negative weights carry of sum |W|."""
    from madgen.runtime.integrand import Evaluation
    from madgen.runtime.sampler import Batch

    n = 20000
    weight = np.random.default_rng(6).uniform(-1.0, 2.0, n)
    zeros = jnp.zeros(n)
    evaluation = Evaluation(jnp.asarray(weight), jnp.zeros((n, 4, 4)), zeros, zeros, zeros, zeros, zeros, zeros,
                            jnp.ones((n, 1)))
    batch = Batch(jnp.asarray(weight), jnp.zeros(n, dtype=jnp.int32), jnp.zeros((n, 2), dtype=jnp.int32),
                  jnp.ones(n, dtype=bool), jnp.zeros((n, 2)), jnp.ones(n), evaluation)
    accepted = jax.jit(_unweight)(batch, jax.random.key(7), jnp.asarray([1.0]), 2.0)
    count = int(accepted.count)
    expected = np.sum(np.abs(weight)) / 2.0
    assert abs(count - expected) < 4 * np.sqrt(expected)
    kept = np.asarray(accepted.evaluation.weight)[:count]
    share = np.sum(-weight[weight < 0]) / np.sum(np.abs(weight))  # 1/5 for uniform weights on (-1, 2)
    assert abs(np.mean(kept < 0) - share) < 4 * np.sqrt(share * (1 - share) / count)
    assert int(accepted.over) == 0


def test_robust_max_weight_on_the_device_matches_the_definition():
    from madgen.runtime.unweight import robust_max_weight

    weights = np.random.default_rng(6).pareto(3.0, 50000)
    w_max = float(jax.jit(robust_max_weight)(jnp.asarray(weights), 1e-3))
    excess = np.clip(weights - w_max, 0, None).sum()
    assert excess <= 1e-3 * weights.sum()
    assert np.clip(weights - weights[weights < w_max].max(), 0, None).sum() > 1e-3 * weights.sum()


def test_shared_maxima_truncate_within_the_budget_at_one_exceedance_probability():
    """Channel maxima from ``shared_maxima``: the truncation sum_i mean_i((w - m_i)+) is within the budget,
    every channel is cut at (about) the same exceedance probability, and their sum is below that of
    cutting each channel at the same per-channel budget."""
    from madgen.runtime.unweight import shared_maxima

    rng = np.random.default_rng(7)
    weights = [rng.pareto(2.5, 40000) * 3.0, rng.pareto(4.0, 20000), rng.exponential(1.0, 10000)]
    counts = [len(w) for w in weights]
    tails = [np.sort(w)[::-1][:4096] for w in weights]
    budget = 1e-3 * sum(w.mean() for w in weights)
    maxima = shared_maxima(counts, tails, budget)
    loss = sum(np.clip(w - m, 0, None).mean() for w, m in zip(weights, maxima))
    assert loss <= budget * (1 + 1e-12)
    assert loss >= budget * (1 - 1e-9)  # the whole budget is used
    exceed = [np.mean(w > m) for w, m in zip(weights, maxima)]
    assert max(exceed) - min(exceed) <= 1 / min(counts)
    separate = [float(np.sort(w)[::-1][np.argmax(np.cumsum(np.sort(w)[::-1]) - np.arange(1, len(w) + 1)
                                                     * np.sort(w)[::-1] > budget / len(weights) * len(w)) - 1])
                for w in weights]
    assert sum(maxima) <= sum(separate)
    assert np.all(shared_maxima([0, 5], [np.zeros(1), np.zeros(5)], 1.0) == 0)


@pytest.fixture(scope="module")
def prepared(generate_package):
    from madgen.runtime.prepared import prepare_run
    from madgen.runtime.runcard import RunCard

    proc = generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")
    run = RunCard.from_mapping({"sqrt_s": 91.188, "seed": 3, "iterations": 2, "warmup_iterations": 1,
                                "points_per_iteration": 8192, "batch_size": 4096, "n_events": 300})
    return proc, run, prepare_run(proc, run, log=lambda *a: None)


def test_prepared_run_is_immutable_reproducible_and_pure(prepared):
    from madgen.runtime.prepared import prepare_run

    proc, run, first = prepared
    again = prepare_run(proc, run, log=lambda *a: None)
    assert again.cross_section_pb == first.cross_section_pb and again.error_pb == first.error_pb
    for a, b in zip(first.grids, again.grids):
        np.testing.assert_array_equal(a.edges, b.edges)
    with pytest.raises(Exception):
        first.grids = ()
    with pytest.raises(TypeError):
        first.parameters["MZ"] = 1.0
    # the weight function is pure in theta: another MZ changes the weight, theta_ref is untouched
    weight = jax.jit(lambda x, mz: first.weight(x, 1, {"MZ": mz}).weight)
    x, jacobian = first.sample_unit_cube(1, 20000)
    mz = first.parameters["MZ"]
    reference = np.asarray(weight(x, mz))
    moved = np.asarray(weight(x, 91.5))
    np.testing.assert_array_equal(np.asarray(weight(x, mz)), reference)
    assert np.any(np.abs(moved - reference) > 1e-6 * np.abs(reference))
    assert first.parameters["MZ"] == proc.default_parameters()["MZ"]
    # the fixed-sample mean of w J is an unbiased estimate of the channel's cross section
    values = reference * jacobian
    channel = first.result.channels[1]
    assert abs(values.mean() - channel.cross_section_pb) < 4 * np.hypot(values.std() / np.sqrt(len(values)),
                                                                           channel.error_pb)


def test_unweighted_events_come_from_the_device_in_rounds(prepared):
    _, run, first = prepared
    plan = first.plan_unweighting(run.n_events)
    chunks = list(first.events(run.n_events, plan))
    again = list(first.events(run.n_events, plan))
    assert sum(len(group) for group, _ in chunks) == run.n_events
    np.testing.assert_array_equal(chunks[0][1].evaluation.momenta, again[0][1].evaluation.momenta)
    assert 0 < plan.efficiency <= 1 and np.isclose(plan.groups[0].probabilities.sum(), 1.0)
