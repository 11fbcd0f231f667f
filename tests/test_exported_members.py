import futu_buybacks
import futu_buybacks.simulator


def test_public_names():
    assert sorted(futu_buybacks.__all__) == sorted([
        "BuybackTables", "BuybacksError", "BuybacksMixin", "Cache", "HostUnsupported", "InstallReport",
        "InvalidArgument", "RET_ERROR", "RET_OK", "RateLimiter", "RefreshReport", "ServerError", "TransportError",
        "daily_panel", "default_cache_path", "events", "export_events", "export_panel", "export_records",
        "get_corporate_actions_buybacks", "install", "load_buybacks", "market_series", "qlib_symbol",
        "refresh", "to_alphalens", "to_qlib", "uninstall", "with_timestamps",
    ])
    for name in futu_buybacks.__all__:
        assert getattr(futu_buybacks, name) is not None


def test_simulator_public_names():
    assert sorted(futu_buybacks.simulator.__all__) == sorted([
        "FAULTS", "FREQUENCY_MESSAGE", "Dataset", "Listing", "Simulator", "synthetic_dataset", "synthetic_records",
        "synthetic_universe", "Amendment", "Change", "MarketModel", "Plan", "Programme", "SyntheticMarket",
        "synthetic_codes", "synthetic_market", "weekday_sessions",
    ])


def test_ret_codes_match_the_sdk_convention():
    assert (futu_buybacks.RET_OK, futu_buybacks.RET_ERROR) == (0, -1)
