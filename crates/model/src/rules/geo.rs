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

/// The initial bearing (forward azimuth) from the first point to the second, in degrees
/// clockwise from true north, 0 to 360: the direction to walk.
pub fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

/// The eight-point compass direction of a bearing, in Chinese and English (北, 东北 ...).
pub fn compass(bearing: f64) -> (&'static str, &'static str) {
    const POINTS: [(&str, &str); 8] = [
        ("北", "N"),
        ("东北", "NE"),
        ("东", "E"),
        ("东南", "SE"),
        ("南", "S"),
        ("西南", "SW"),
        ("西", "W"),
        ("西北", "NW"),
    ];
    let i = ((bearing.rem_euclid(360.0) + 22.5) / 45.0) as usize % 8;
    POINTS[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn bearings_and_their_compass_points() {
        let near = |a: f64, b: f64| (a - b).abs() < 0.01;
        assert!(near(bearing_deg(36.0, 117.0, 36.1, 117.0), 0.0), "north");
        assert!(near(bearing_deg(36.0, 117.0, 35.9, 117.0), 180.0), "south");
        assert!(
            near(bearing_deg(0.0, 117.0, 0.0, 117.1), 90.0),
            "east on the equator"
        );
        assert!(near(bearing_deg(0.0, 117.0, 0.0, 116.9), 270.0), "west");
        // North-east at 45° on the equator for equal small steps.
        assert!((bearing_deg(0.0, 0.0, 0.001, 0.001) - 45.0).abs() < 0.01);
        assert_eq!(compass(0.0), ("北", "N"));
        assert_eq!(compass(359.0), ("北", "N"));
        assert_eq!(compass(44.0), ("东北", "NE"));
        assert_eq!(compass(100.0), ("东", "E"));
        assert_eq!(compass(200.0), ("南", "S"));
        assert_eq!(compass(300.0), ("西北", "NW"));
    }

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
