//! Great-circle distance between two points in decimal degrees (CGCS2000 / WGS 84 latitudes and
//! longitudes, domain.md 1.1), by the haversine formula on a sphere of the mean Earth radius
//! R1 = 6 371 008.8 m (IUGG). Error against the ellipsoid is below 0.5 %, far under GNSS and
//! offset tolerances (tens of metres).

/// Mean Earth radius R1 (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between (`lat1`, `lon1`) and (`lat2`, `lon2`), in degrees.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn known_distances() {
        // One degree along a meridian or the equator: R·π/180 = 111 195.08 m.
        let deg = EARTH_RADIUS_M * PI / 180.0;
        assert!((deg - 111_195.08).abs() < 0.01);
        assert!((distance_m(30.0, 114.0, 31.0, 114.0) - deg).abs() < 1e-6);
        assert!((distance_m(0.0, 114.0, 0.0, 115.0) - deg).abs() < 1e-6);
        // Equator to pole: R·π/2 = 10 007 557 m.
        assert!((distance_m(0.0, 0.0, 90.0, 0.0) - 10_007_557.2).abs() < 0.1);
        // Antipodes: R·π.
        assert!((distance_m(0.0, 0.0, 0.0, 180.0) - EARTH_RADIUS_M * PI).abs() < 1e-3);
        // 0.0001° of latitude ≈ 11.12 m; symmetric; zero for the same point.
        assert!((distance_m(36.0, 117.0, 36.0001, 117.0) - 11.12).abs() < 0.01);
        assert_eq!(distance_m(36.5, 117.2, 36.5, 117.2), 0.0);
        let (a, b) = (
            distance_m(36.0, 117.0, 36.2, 117.3),
            distance_m(36.2, 117.3, 36.0, 117.0),
        );
        assert!((a - b).abs() < 1e-9);
        // Along a parallel the distance shrinks with cos(latitude): 1° at 60° N is half.
        assert!((distance_m(60.0, 10.0, 60.0, 10.001) - deg * 0.0005).abs() < 0.01);
    }
}
