"""Pure computations: Webster, the queue, robust z-scores, routing, plate matching, the predictor."""

import math
import random

import numpy as np
import pytest

from traffic.core import features, webster
from traffic.core.network import grid_network
from traffic.core.predictor import SpeedGrid, SpeedModel, fits_these_features, train_and_evaluate
from traffic.core.queueing import Approach, green_mask, simulate_queues
from traffic.core.robust import is_incident, robust_z
from traffic.core.routing import RoadGraph, shortest_path
from traffic.core.simulator import simulate
from traffic.core.travel import match_travel_times


def test_webster_matches_the_hand_worked_example():
    # Two phases, y = 0.30 and 0.20, 4 s lost each: L = 8, Y = 0.5,
    # C0 = (1.5*8 + 5) / (1 - 0.5) = 17 / 0.5 = 34 s; effective green 26 s split 0.3:0.2 = 15.6 / 10.4 s.
    plan = webster.webster_plan([webster.PhaseDemand(0.30, 4.0, 5.0, 60.0), webster.PhaseDemand(0.20, 4.0, 5.0, 60.0)],
                                min_cycle_s=20, max_cycle_s=150)
    assert plan.webster_cycle_s == pytest.approx(34.0)
    assert plan.cycle_s == pytest.approx(34.0)
    assert plan.greens_s == pytest.approx([15.6, 10.4])
    # degree of saturation x = y C / g = 0.3*34/15.6 = 0.654 for both phases (equalised by Webster)
    assert plan.degrees_of_saturation == pytest.approx([0.6538, 0.6538], abs=1e-3)


def test_webster_pedestrian_minimum_lengthens_the_cycle_keeping_the_degree_of_saturation():
    # Same demand, but phase 2 serves a crossing that needs 15 s (> its 10.4 s share).
    # Webster's x = Y C0 / (C0 - L) = 0.5 * 34 / 26 = 0.6538; phase 1 keeps it: g1 = 0.3 C / x, and
    # C = L + 15 + g1  =>  C = (8 + 15) / (1 - 0.3 / 0.6538) = 23 / 0.5412 = 42.5 s, g1 = 19.5 s.
    plan = webster.webster_plan([webster.PhaseDemand(0.30, 4.0, 5.0, 60.0),
                                 webster.PhaseDemand(0.20, 4.0, 5.0, 60.0, pedestrian_min_s=15.0)],
                                min_cycle_s=20, max_cycle_s=150)
    assert plan.cycle_s == pytest.approx(42.5, abs=0.01)
    assert plan.greens_s == pytest.approx([19.5, 15.0], abs=0.01)
    assert plan.degrees_of_saturation[0] == pytest.approx(0.6538, abs=1e-3)
    # A shorter maximum cycle caps it: the rest is shared by y within 40 s.
    capped = webster.webster_plan([webster.PhaseDemand(0.30, 4.0, 5.0, 60.0),
                                   webster.PhaseDemand(0.20, 4.0, 5.0, 60.0, pedestrian_min_s=15.0)],
                                  min_cycle_s=20, max_cycle_s=40)
    assert capped.cycle_s == pytest.approx(40.0) and capped.greens_s == pytest.approx([17.0, 15.0])


def test_webster_cycle_bounds_and_oversaturation():
    light = webster.webster_plan([webster.PhaseDemand(0.05), webster.PhaseDemand(0.05)], min_cycle_s=40)
    assert light.cycle_s == pytest.approx(40.0)  # C0 = 17/0.9 = 18.9 s, raised to the minimum
    assert sum(light.greens_s) == pytest.approx(32.0)
    heavy = webster.webster_plan([webster.PhaseDemand(0.6, max_green_s=90), webster.PhaseDemand(0.5, max_green_s=90)],
                                 max_cycle_s=120)
    assert heavy.oversaturated and heavy.cycle_s == pytest.approx(120.0)
    assert math.isinf(heavy.webster_cycle_s)


def test_webster_max_green_caps_and_floors_must_fit():
    plan = webster.webster_plan([webster.PhaseDemand(0.7, max_green_s=30.0), webster.PhaseDemand(0.1)],
                                max_cycle_s=150)
    assert plan.greens_s[0] == pytest.approx(30.0)
    floors = webster.webster_plan([webster.PhaseDemand(0.1, pedestrian_min_s=40), webster.PhaseDemand(
        0.1, pedestrian_min_s=40)], max_cycle_s=60)
    assert floors.greens_s == pytest.approx([40.0, 40.0]) and floors.cycle_s == pytest.approx(88.0)
    with pytest.raises(ValueError):
        webster.webster_plan([])


def test_queue_simulation_agrees_with_webster_delay_formula():
    # One approach, q = 0.2 veh/s, s = 0.5 veh/s, C = 60 s, g = 30 s: x = 0.8.
    rng = np.random.default_rng(1)
    seconds = 4 * 3600
    mask = green_mask(greens_s=[30.0, 26.0], lost_per_phase_s=2.0, seconds=seconds)
    result = simulate_queues(approaches=[Approach(0, 0.5)], demand_vps=np.full((1, seconds), 0.2), mask=mask,
                             rng=rng)
    formula = webster.webster_delay(cycle_s=60.0, green_s=30.0, flow_vps=0.2, saturation_vps=0.5)
    assert 15 < formula < 30
    assert result.mean_delay_s == pytest.approx(formula, rel=0.25)


def test_robust_z_flags_a_drop_but_not_normal_noise():
    rng = np.random.default_rng(3)
    history = rng.normal(45.0, 2.0, size=40)
    history[5] = 8.0  # a past incident barely moves the median/MAD
    assert is_incident(44.0, history) is None
    assert is_incident(41.0, history) is None
    score = is_incident(15.0, history)
    assert score is not None and score.z < -3.5 and score.median == pytest.approx(45.0, abs=1.0)
    assert robust_z(1.0, np.array([])) is None
    assert is_incident(5.0, history[:3]) is None  # too little history to judge


def _small_graph() -> RoadGraph:
    # 0 -> 1 -> 3 (short but slow), 0 -> 2 -> 3 (longer but fast), plus a parallel slower 0 -> 1 edge.
    return RoadGraph(
        node_ids=np.array([10, 11, 12, 13]), node_lat=np.array([0.0, 0.0, 0.01, 0.01]),
        node_lon=np.array([0.0, 0.01, 0.0, 0.01]), edge_ids=np.array([100, 101, 102, 103, 104]),
        edge_from=np.array([0, 1, 0, 2, 0]), edge_to=np.array([1, 3, 2, 3, 1]),
        edge_length_m=np.array([1000.0, 1000.0, 1500.0, 1500.0, 1000.0]),
    )


def test_shortest_path_picks_the_fastest_route_on_a_small_graph():
    graph = _small_graph()
    speeds = np.array([20.0, 20.0, 60.0, 60.0, 10.0])  # via 1: 2 x 180 s; via 2: 2 x 90 s
    path = shortest_path(graph, speeds, source=0, target=3)
    assert [int(graph.node_ids[r]) for r in path.node_rows] == [10, 12, 13]
    assert path.seconds == pytest.approx(180.0) and path.length_m == pytest.approx(3000.0)
    # Jam on the fast road: the short one wins, through the faster of the two parallel edges.
    path = shortest_path(graph, np.array([20.0, 20.0, 5.0, 60.0, 10.0]), source=0, target=3)
    assert [int(graph.edge_ids[i]) for i in path.edge_indexes] == [100, 101]
    assert path.seconds == pytest.approx(360.0)
    assert shortest_path(graph, speeds, source=3, target=0) is None  # one-way streets
    assert graph.nearest_node(0.0099, 0.0101)[0] == 3


def test_plate_matching_pairs_each_trip_once():
    origin = [("a", 0.0), ("b", 10.0), ("c", 20.0), ("a", 1000.0), ("d", 0.0)]
    destination = [("a", 120.0), ("b", 100.0), ("a", 1100.0), ("c", 20000.0), ("e", 50.0)]
    trips = match_travel_times(origin, destination, max_trip_s=3600)
    assert sorted(trips.tolist()) == [90.0, 100.0, 120.0]
    # Seen twice at the origin before arriving: only the later sighting starts the trip.
    assert match_travel_times([("x", 0.0), ("x", 50.0)], [("x", 80.0)], max_trip_s=3600).tolist() == [30.0]


def test_predictor_beats_both_baselines_on_simulated_traffic():
    nodes, segments = grid_network(center=(30.27, 120.15), size=4, spacing_m=600, rng=random.Random(4))
    ffs = np.array([s.free_flow_speed_kmh for s in segments])
    lanes = np.array([s.lanes for s in segments], dtype=float)
    end = 1_764_000_000 // 300 * 300
    epochs = np.arange(end - 5 * 86400, end, 300)
    offsets = np.full(epochs.size, 8 * 3600)
    sim = simulate(free_flow_kmh=ffs, lanes=lanes, arterial=np.array([s.road_class != "local" for s in segments]),
                   epochs=epochs, utc_offsets_s=offsets, interval_s=300, rng=np.random.default_rng(7))
    assert len(sim.incidents) >= 1 and sim.speed_kmh.min() >= 2.0 and (sim.count >= 0).all()
    grid = SpeedGrid(segment_ids=np.arange(len(segments)), epochs=epochs, utc_offsets_s=offsets,
                     speed_kmh=sim.speed_kmh.astype(float), free_flow_kmh=ffs, lanes=lanes)
    trained = train_and_evaluate(grid, max_train_rows=20_000)
    assert set(trained.metrics) == {"15", "30", "60"}
    assert trained.beats_baselines(), trained.metrics
    # The baselines themselves behave as expected: last value degrades with the horizon.
    assert trained.metrics["60"]["last_value"] > trained.metrics["15"]["last_value"]


def test_a_forecast_reads_the_same_features_from_the_window_it_loads():
    """forecasts_refresh loads only the last HISTORY_BINS of the grid: the track record (3 h of the profile's and
    the last value's errors) must come out as it does from the whole grid the model was evaluated on."""
    nodes, segments = grid_network(center=(30.27, 120.15), size=3, spacing_m=600, rng=random.Random(5))
    ffs = np.array([s.free_flow_speed_kmh for s in segments])
    lanes = np.array([s.lanes for s in segments], dtype=float)
    epochs = np.arange(1_764_000_000 - 2 * 86400, 1_764_000_000, 300)
    offsets = np.full(epochs.size, 8 * 3600)
    sim = simulate(free_flow_kmh=ffs, lanes=lanes, arterial=np.array([s.road_class != "local" for s in segments]),
                   epochs=epochs, utc_offsets_s=offsets, interval_s=300, rng=np.random.default_rng(2))
    ratio = sim.speed_kmh / ffs[:, None]
    ratio[0, -20:-10] = np.nan  # a camera that went quiet for a while
    profile = features.build_profile(ratio[:, :-288], features.time_of_week_slot(epochs[:-288], offsets[:-288]))
    tail = slice(epochs.size - features.HISTORY_BINS, epochs.size)
    for horizon_bins in (3, 6, 12):
        whole = features.feature_matrix(ratio=ratio, t_index=np.array([epochs.size - 1]), horizon_bins=horizon_bins,
                                        epochs=epochs, utc_offsets_s=offsets, profile=profile, free_flow_kmh=ffs,
                                        lanes=lanes)
        window = features.feature_matrix(ratio=ratio[:, tail], t_index=np.array([features.HISTORY_BINS - 1]),
                                         horizon_bins=horizon_bins, epochs=epochs[tail], utc_offsets_s=offsets[tail],
                                         profile=profile, free_flow_kmh=ffs, lanes=lanes)
        np.testing.assert_allclose(window, whole, equal_nan=True)
        assert np.isfinite(whole[:, features.FEATURE_NAMES.index("profile_weight_3h")]).all()


def test_predictor_beats_both_baselines_at_60_minutes_on_the_week_it_once_lost():
    """bench_traffic_ingest's week ending Sunday 29 Nov 2026 14:00 UTC (the Hangzhou demo grid, seed 42). Its
    held-out day is Saturday evening to Sunday afternoon, whose profile comes from the other weekend day, while the
    week's training rows had no weekend profile but a weekday-dominated time-of-day fallback. The model trained on
    leave-one-day-out rows alone lost to the time-of-week profile at 60 minutes (2.298 km/h against 2.193)."""
    nodes, segments = grid_network(center=(30.274, 120.155), size=8, spacing_m=650, rng=random.Random(42))
    ffs = np.array([s.free_flow_speed_kmh for s in segments])
    lanes = np.array([s.lanes for s in segments], dtype=float)
    end = 1_795_960_800
    epochs = np.arange(end - 7 * 86400, end, 300, dtype=np.int64)
    offsets = np.full(epochs.size, 8 * 3600, dtype=np.int64)
    sim = simulate(free_flow_kmh=ffs, lanes=lanes, arterial=np.array([s.road_class != "local" for s in segments]),
                   epochs=epochs, utc_offsets_s=offsets, interval_s=300, rng=np.random.default_rng(42))
    grid = SpeedGrid(segment_ids=np.arange(len(segments)), epochs=epochs, utc_offsets_s=offsets,
                     speed_kmh=sim.speed_kmh.astype(float), free_flow_kmh=ffs, lanes=lanes)
    hour = train_and_evaluate(grid, horizons_min=(60,)).metrics["60"]
    assert hour["model"] < min(hour["last_value"], hour["time_of_week"]) - 0.1, hour


def test_a_predictor_of_other_features_is_told_apart():
    rng = np.random.default_rng(0)
    n = len(features.FEATURE_NAMES)
    profile = features.build_profile(rng.random((3, 288)), np.arange(288) % features.N_SLOTS)
    current = {15: SpeedModel().fit(rng.random((200, n)), rng.random(200))}
    assert fits_these_features(current, profile)
    # A version of an earlier release: fewer feature columns, or a profile without the days layer.
    assert not fits_these_features({15: SpeedModel().fit(rng.random((200, n - 3)), rng.random(200))}, profile)
    assert not fits_these_features(current, profile[:2])
    assert not fits_these_features({15: object()}, profile)
