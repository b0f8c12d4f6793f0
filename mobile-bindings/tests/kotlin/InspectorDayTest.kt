// An inspector's day through the generated Kotlin API, on the JVM: the same calls an Android
// app makes. Run by mobile-bindings/tests/run-kotlin.sh; exits non-zero when any check fails.

import org.jingtu.core.*
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.nio.file.Files
import javax.imageio.ImageIO
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess

var failures = 0
var checks = 0

fun check(what: String, ok: Boolean) {
    checks++
    if (ok) println("ok   $what") else { failures++; println("FAIL $what") }
}

inline fun <reified E : Throwable> expectThrows(what: String, body: () -> Unit): E? {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) { check(what, true); return e }
        check("$what (threw ${e::class.simpleName}: ${e.message})", false)
        return null
    }
    check("$what (nothing thrown)", false)
    return null
}

// A platform key as an app holds one (Android Keystore, Secure Enclave), here the JVM's own
// Ed25519: the core never sees its private half.
class PlatformKey : CustodySigner {
    private val pair = java.security.KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
    var signatures = 0
    // X.509 SubjectPublicKeyInfo of an Ed25519 key: 12 bytes of header, then the raw 32.
    override fun publicKey(): ByteArray = pair.public.encoded.copyOfRange(12, 44)
    override fun sign(message: ByteArray): ByteArray {
        signatures++
        val s = java.security.Signature.getInstance("Ed25519")
        s.initSign(pair.private)
        s.update(message)
        return s.sign()
    }
}

fun hexOf(bytes: ByteArray) = bytes.joinToString("") { "%02x".format(it) }

fun text(v: String) = FieldValue.Text(v)
fun int(v: Long) = FieldValue.Integer(v)
fun num(v: Double) = FieldValue.Number(v)

fun checklistItems(core: FieldCore): List<String> {
    val json = core.templateJson("village_inspection")
    val m = Regex("\"propertyNames\"\\s*:\\s*\\{\\s*\"enum\"\\s*:\\s*\\[([^\\]]*)\\]").find(json)
        ?: return emptyList()
    return Regex("\"([a-z0-9_]+)\"").findAll(m.groupValues[1]).map { it.groupValues[1] }.toList()
}

fun fillVillage(core: FieldCore, id: String) {
    core.setField(id, "village_name", text("杨树沟村"))
    core.setField(id, "admin_code", text("411321102206"))
    core.setField(id, "township", text("云阳镇"))
    core.setField(id, "eval_year", int(2024))
    core.setField(id, "eval_half", int(1))
    core.setField(id, "eval_level", text("county_self"))
    core.setField(id, "inspected_at", text("2024-07-16T09:30:00+08:00"))
    core.appendItem(id, "inspectors", text("王建军"))
    core.appendItem(id, "inspectors", text("李秀兰"))
    core.setField(id, "position", FieldValue.Json("{\"lat\":33.488612,\"lon\":112.431275,\"accuracy_m\":4.5}"))
    core.setField(id, "indicators.sewage_treatment_rate_pct", num(65.5))
    core.setField(id, "indicators.bow_remediation_rate_pct", num(100.0))
    core.setField(id, "indicators.water_source_completion_pct", num(85.0))
}

// A camera-like JPEG: gradients and a pattern, different per seed.
fun cameraJpeg(seed: Int, w: Int = 800, h: Int = 600): ByteArray {
    val img = BufferedImage(w, h, BufferedImage.TYPE_INT_RGB)
    for (y in 0 until h) for (x in 0 until w) {
        val r = (x * 255 / w) xor (seed * 37 and 0xff)
        val g = (y * 255 / h) xor (seed * 91 and 0xff)
        val b = ((x / 16 + y / 16) % 2) * 120 + seed % 100
        img.setRGB(x, y, (r shl 16) or (g shl 8) or b)
    }
    val out = ByteArrayOutputStream()
    ImageIO.write(img, "jpg", out)
    return out.toByteArray()
}

fun photoSection(core: FieldCore, tmp: java.nio.file.Path) {
    val soil = core.createRecord("soil_sample", NewRecordPlace(null, null, "411321-P017", null))
    var v = core.view(soil.id)
    check("a new soil sample misses 8 required photos", v.missingPhotos.size == 8)
    check("missing photos are errors too", v.issues.any { it.code == "photo_missing" && it.path == "photos.landscape_e" })
    check("missing photos carry Chinese labels", v.missingPhotos.any { it.labelZh == "东向景观" })
    val east = core.addPhoto(soil.id, cameraJpeg(1),
        NewPhoto("landscape_e", null, "东侧为麦田", 33.488612, 112.431275, 3.5, null, null))
    check("photo added with its tag and position", east.tag == "landscape_e" && east.lat == 33.488612 && east.accuracyM == 3.5)
    check("soil photos are stamped by default", east.stamped)
    check("stored image resized to at most 2048 px", east.width <= 2048u && east.height <= 2048u && east.width == 800u)
    v = core.view(soil.id)
    check("7 photos still missing", v.missingPhotos.size == 7 && v.missingPhotos.none { it.tag == "landscape_e" })
    check("the view lists the photo", v.photos.size == 1 && v.photos[0].hasFull && v.photos[0].hasThumbnail)
    val full = core.photoBytes(east.sha256, false)
    val thumb = core.photoBytes(east.sha256, true)
    check("full bytes are a JPEG", full.size > 1000 && full[0] == 0xFF.toByte() && full[1] == 0xD8.toByte())
    check("the thumbnail is smaller (${thumb.size} < ${full.size})", thumb.size < full.size)
    check("the SHA-256 names the bytes", java.security.MessageDigest.getInstance("SHA-256").digest(full)
        .joinToString("") { "%02x".format(it) } == east.sha256)
    val file = tmp.resolve("south.jpg")
    Files.write(file, cameraJpeg(2))
    val south = core.addPhotoFile(soil.id, file.toString(), NewPhoto("landscape_s", null, null, null, null, null, null, false))
    check("a photo from a file, unstamped when asked", !south.stamped && core.photos(soil.id, false).size == 2)
    core.removePhoto(soil.id, south.id)
    check("a removed photo leaves the list", core.photos(soil.id, false).size == 1)
    check("the history keeps it, flagged", core.photos(soil.id, true).any { it.id == south.id && it.removed && it.removedBy == core.user() })
    check("the missing list has it again", core.view(soil.id).missingPhotos.any { it.tag == "landscape_s" })
    val notImage = expectThrows<JingtuException.InvalidInput>("text bytes are not a photo") {
        core.addPhoto(soil.id, "hello".toByteArray(), NewPhoto("sampling", null, null, null, null, null, null, null))
    }
    check("the error names the photo", notImage?.field == "photo")
    expectThrows<JingtuException.InvalidInput>("an unknown photo type is refused") {
        core.addPhoto(soil.id, cameraJpeg(3), NewPhoto("selfie", null, null, null, null, null, null, null))
    }
    // A photo of a failing checklist item goes into the item's photo list.
    val village = core.createRecord("village_inspection", null)
    val before = core.addPhoto(village.id, cameraJpeg(4),
        NewPhoto("before", "checklist.clean_garbage", null, null, null, null, null, null))
    check("the checklist item lists the photo id",
        core.view(village.id).values.any { it.path == "checklist.clean_garbage.photos.0" && it.value == text(before.id) })
}

// Two phones sync through a real jingtu-server process and see each other's edits merged.
fun syncSection(tmp: java.nio.file.Path) {
    val serverBin = System.getenv("JINGTU_SERVER_BIN")
    if (serverBin == null) { check("JINGTU_SERVER_BIN is set", false); return }
    val server = ProcessBuilder(serverBin, "serve", "--data-dir", tmp.resolve("server").toString(),
        "--listen", "127.0.0.1:0").start()
    try {
        val url = server.inputStream.bufferedReader().readLine()?.substringAfter("listening on ")?.trim()
        val err = server.errorStream.bufferedReader()
        // The first start's admin token is in a file of the data folder, written before the
        // address is printed (never in the log).
        val tokenFile = tmp.resolve("server").resolve("first-admin-token").toFile()
        val token: String? = if (tokenFile.exists()) tokenFile.readText().trim() else null
        Thread { try { while (err.readLine() != null) {} } catch (e: java.io.IOException) {} }
            .apply { isDaemon = true; start() }
        check("the server started ($url)", url != null && url.startsWith("http://") && token != null)
        if (url == null || token == null) return
        val a = FieldCore.open(tmp.resolve("sync-a").toString(), "王建军")
        val b = FieldCore.open(tmp.resolve("sync-b").toString(), "李秀兰")
        a.setServer(url, token)
        b.setServer(url, token)
        val rec = a.createRecord("village_inspection", NewRecordPlace("411321102", "杨树沟村", null, null))
        a.setField(rec.id, "village_name", text("杨树沟村"))
        val photo = a.addPhoto(rec.id, cameraJpeg(7),
            NewPhoto("before", "checklist.clean_garbage", null, 33.48, 112.43, 5.0, null, null))
        check("a new record waits to be sent", a.recordSyncState(rec.id).state == "pending_upload")
        val phases = mutableSetOf<String>()
        var lastBytes = 0UL
        var photoProgress = 0UL to 0UL
        val listener = object : SyncListener {
            override fun onSyncProgress(phase: String, done: ULong, total: ULong, bytes: ULong): Boolean {
                synchronized(phases) {
                    phases.add(phase); lastBytes = bytes
                    if (phase == "photos") photoProgress = done to total
                }
                return true
            }
        }
        val first = a.sync(listener)
        check("phone A pushed its record and photo", first.recordsPushed == 1UL && first.photosUploaded == 1UL)
        check("the listener saw push and photos", phases.containsAll(listOf("push", "photos")))
        check("photo progress ends at all the photo's bytes ($photoProgress)",
            photoProgress.second == first.photoBytesUploaded && photoProgress.first == photoProgress.second &&
                photoProgress.second > 1000UL)
        check("the listener counts bytes ($lastBytes)", lastBytes > 1000UL)
        val stopper = object : SyncListener {
            override fun onSyncProgress(phase: String, done: ULong, total: ULong, bytes: ULong) = false
        }
        a.setField(rec.id, "eval_year", int(2024))
        expectThrows<JingtuException.Cancelled>("a sync listener can cancel") { a.sync(stopper) }
        a.sync(null)
        check("after the sync the record is synced", a.recordSyncState(rec.id).state == "synced")
        check("nothing pending", a.syncStatus().let { it.recordsPending == 0UL && it.photosPending == 0UL })
        val got = b.sync(null)
        check("phone B received the record", got.recordsReceived == 1UL && b.view(rec.id).name == "杨树沟村")
        val bPhoto = b.photos(rec.id, false).firstOrNull()
        check("phone B has the photo's thumbnail, not the full image",
            bPhoto != null && bPhoto.hasThumbnail && !bPhoto.hasFull && got.thumbnailsFetched == 1UL)
        val full = b.fetchPhoto(photo.sha256)
        check("phone B fetches the full image on demand", java.security.MessageDigest.getInstance("SHA-256")
            .digest(full).joinToString("") { "%02x".format(it) } == photo.sha256)
        // Edits on both phones, synced both ways, merge.
        a.setField(rec.id, "township", text("云阳镇"))
        b.setField(rec.id, "admin_code", text("411321102206"))
        a.sync(null); b.sync(null); a.sync(null)
        check("both phones hold both edits", a.view(rec.id).dataJson == b.view(rec.id).dataJson &&
            a.view(rec.id).dataJson.contains("云阳镇") && a.view(rec.id).dataJson.contains("411321102206"))
        // Same field on both: a conflict both phones see.
        a.setField(rec.id, "township", text("城郊乡"))
        b.setField(rec.id, "township", text("皇路店镇"))
        a.sync(null); b.sync(null); a.sync(null)
        check("the same-field edit is a conflict on both phones",
            a.conflicts(rec.id).size == 1 && b.conflicts(rec.id).size == 1)
        val c = FieldCore.open(tmp.resolve("sync-c").toString(), "赵六")
        c.setServer(url, "jt_not_a_real_token")
        expectThrows<JingtuException.Unauthorized>("a wrong token is refused") { c.sync(null) }
        val d = FieldCore.open(tmp.resolve("sync-d").toString(), "钱七")
        d.setServer("http://127.0.0.1:9", token)
        expectThrows<JingtuException.Network>("an unreachable server is a network error") { d.sync(null) }
        a.close(); b.close(); c.close(); d.close()
        peopleSection(tmp, serverBin, url, tmp.resolve("server").toString())
    } finally {
        server.destroy()
        server.waitFor(10, TimeUnit.SECONDS)
    }
}

/// Runs `jingtu-server admin ...` on the server's data folder; returns its first stdout line.
fun admin(serverBin: String, dataDir: String, vararg args: String, stdin: String? = null): String {
    val p = ProcessBuilder(listOf(serverBin, "admin", "--data-dir", dataDir) + args.toList())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start()
    if (stdin != null) p.outputStream.use { it.write(stdin.toByteArray()) } else p.outputStream.close()
    val out = p.inputStream.bufferedReader().readText()
    p.waitFor(60, TimeUnit.SECONDS)
    check("admin ${args.take(2).joinToString(" ")} succeeds", p.exitValue() == 0)
    return out.lineSequence().firstOrNull()?.trim() ?: ""
}

// People: devices enroll by one-time code, receive only what their role and org units let them
// see, get their assignments through sync, and see a refused edit with its reason.
fun peopleSection(tmp: java.nio.file.Path, serverBin: String, url: String, dataDir: String) {
    val csv = tmp.resolve("org.csv")
    Files.writeString(csv, "code,name,level,parent\n" +
        "410000000000,河南省,,\n411300000000,南阳市,,\n411321000000,南召县,,\n" +
        "411321102000,云阳镇,,\n411321103000,皇路店镇,,\n" +
        "411321102206,杨树沟村,,\n411321103201,东岗村,,\n")
    admin(serverBin, dataDir, "org", "import", csv.toString())
    admin(serverBin, dataDir, "user", "create", "insp_yy", "--role", "inspector", "--org", "411321102000")
    admin(serverBin, dataDir, "user", "create", "insp_hl", "--role", "inspector", "--org", "411321103000")
    admin(serverBin, dataDir, "user", "create", "samp_yy", "--role", "sampler", "--org", "411321102000")
    admin(serverBin, dataDir, "user", "create", "sup_nz", "--role", "supervisor", "--org", "411321000000",
        "--password-stdin", stdin = "county-supervisor-pw\n")

    val yy = FieldCore.open(tmp.resolve("people-yy").toString(), null)
    val code = admin(serverBin, dataDir, "enroll-code", "insp_yy")
    check("an enrollment code is printed ($code)", code.length >= 12)
    val who = yy.enroll(url, code, "云阳镇巡查手机", "kotlin-test/1")
    check("enrolling by code names the user and role",
        who.user == "insp_yy" && who.role == "inspector" && who.roleLabel == "巡查员" &&
        who.orgUnits == listOf("411321102000"))
    check("the enrollment is kept", yy.enrollment()?.user == "insp_yy" && yy.user() == "insp_yy")
    val again = FieldCore.open(tmp.resolve("people-again").toString(), null)
    val reused = expectThrows<JingtuException.Network>("a used code is refused") {
        again.enroll(url, code, null, null)
    }
    check("the refusal says the code was used (${reused?.reason})", reused?.reason?.contains("code_used") == true)
    val hl = FieldCore.open(tmp.resolve("people-hl").toString(), null)
    hl.enroll(url, admin(serverBin, dataDir, "enroll-code", "insp_hl"), null, null)
    val samp = FieldCore.open(tmp.resolve("people-samp").toString(), null)
    // The sampler's custody events are signed by a platform key, registered at enrollment.
    val sampKey = PlatformKey()
    samp.setCustodySigner(sampKey)
    check("the device signs with the platform key", samp.custodyPublicKey() == hexOf(sampKey.publicKey()))
    samp.enroll(url, admin(serverBin, dataDir, "enroll-code", "samp_yy"), null, null)
    val sup = FieldCore.open(tmp.resolve("people-sup").toString(), null)
    sup.enroll(url, admin(serverBin, dataDir, "enroll-code", "sup_nz"), null, null)
    check("the supervisor's device knows its role", sup.enrollment()?.role == "supervisor")

    val all = RecordFilter(null, null, null, null, null, null, null)
    // Each inspector captures a village in their own township.
    val r1 = yy.createRecord("village_inspection", NewRecordPlace("411321102206", "杨树沟村", null, null))
    yy.setField(r1.id, "village_name", text("杨树沟村"))
    val r2 = hl.createRecord("village_inspection", NewRecordPlace("411321103201", "东岗村", null, null))
    hl.setField(r2.id, "village_name", text("东岗村"))
    check("own records are accepted", yy.sync(null).recordsPushed == 1UL && hl.sync(null).recordsPushed == 1UL)
    yy.sync(null)
    check("an inspector never receives another township's record",
        yy.list(all).none { it.id == r2.id } && hl.list(all).none { it.id == r1.id })
    val supGot = sup.sync(null)
    check("the county supervisor receives both (${supGot.recordsReceived})",
        sup.list(all).any { it.id == r1.id } && sup.list(all).any { it.id == r2.id })

    // Review round trip: the inspector submits; the supervisor's tablet returns the record
    // with a comment on one checklist item; the inspector's device shows what to fix and where;
    // fixed and resubmitted, it is approved and the inspector sees the outcome.
    val rv = yy.createRecord("village_inspection", NewRecordPlace("411321102206", "杨树沟村", null, null))
    fillVillage(yy, rv.id)
    val items = checklistItems(yy)
    for (item in items) yy.setChecklistItem(rv.id, item, ItemResult.PASS, null)
    yy.submit(rv.id)
    yy.sync(null)
    sup.sync(null)
    check("the supervisor holds the submitted record", sup.view(rv.id).status == "submitted")
    expectThrows<JingtuException.InvalidState>("an inspector's device does not review") {
        yy.review(rv.id, ReviewDecision.APPROVE, null, emptyList())
    }
    expectThrows<JingtuException.InvalidInput>("a return says what to fix") {
        sup.review(rv.id, ReviewDecision.RETURN, null, emptyList())
    }
    expectThrows<JingtuException.InvalidInput>("a comment on an unknown field is refused") {
        sup.review(rv.id, ReviewDecision.RETURN, null, listOf(NewComment("?", "no_such_field")))
    }
    val back = sup.review(rv.id, ReviewDecision.RETURN, "请核实",
        listOf(NewComment("污水设施照片看不清，请补拍", "checklist.${items[1]}")))
    check("returned on the tablet", back.status == "returned")
    check("the return is accepted by the server", sup.sync(null).refused.isEmpty())
    yy.sync(null)
    val seen = yy.view(rv.id)
    check("the inspector's device shows what to fix and where (${seen.toFix})",
        seen.status == "returned" && seen.toFix.size == 1 &&
        seen.toFix[0].path == "checklist.${items[1]}" && seen.toFix[0].by == "sup_nz" &&
        seen.toFix[0].round == 1 && seen.events.last().note == "请核实")
    yy.setChecklistItem(rv.id, items[1], ItemResult.NOT_APPLICABLE, null)
    yy.submit(rv.id)
    yy.sync(null)
    check("nothing is left to fix once resubmitted", yy.view(rv.id).toFix.isEmpty())
    sup.sync(null)
    val approved = sup.review(rv.id, ReviewDecision.APPROVE, "合格", emptyList())
    check("approved on the tablet", approved.status == "approved")
    val note = sup.comment(rv.id, listOf(NewComment("县级抽查通过", null)))
    check("a comment on an approved record is kept", note.size == 1)
    check("the approval and the comment are accepted", sup.sync(null).refused.isEmpty())
    yy.sync(null)
    val done = yy.view(rv.id)
    check("the inspector sees it approved with the whole review history",
        done.status == "approved" && done.comments.size == 2 && done.toFix.isEmpty())

    // An assignment reaches the sampler's device through sync, read-only, and its record
    // carries it.
    // The admin imports the planned point list first: the assignment carries the point's
    // position, land use and task.
    val points = tmp.resolve("points.csv")
    Files.writeString(points, "点位编码,点位名称,纬度,经度,土地利用类型,监测任务,行政区划代码\n" +
        "NZ-017,17号点位,33.4886,112.4312,水田,early_warning,411321102206\n")
    admin(serverBin, dataDir, "points", "import", points.toString())
    val asg = admin(serverBin, dataDir, "assign", "samp_yy", "--kind", "soil_sample",
        "--target-kind", "sampling_point", "--target", "NZ-017",
        "--org", "411321102000", "--due", "2024-06-30")
    val sampSync = samp.sync(null)
    val held = samp.assignments()
    check("the sampler received the assignment (${sampSync.assignments})",
        held.size == 1 && held[0].id == asg && held[0].targetKindLabel == "采样点位" &&
        held[0].dueDate == "2024-06-30")
    check("with the planned point's position, land use and task (${held[0].plannedPoint})",
        held[0].plannedPoint?.lat == 33.4886 && held[0].plannedPoint?.landUse == "paddy_0101" &&
        held[0].targetName == "17号点位")
    val soil = samp.createRecordForAssignment(asg)
    val soilView = samp.view(soil.id)
    check("a record created from it carries it",
        soilView.assignmentId == asg && soilView.plannedPoint == "NZ-017" &&
        soilView.orgUnit == "411321102000")
    check("and is filled in from the point list (${soilView.dataJson})",
        soilView.dataJson.contains("planned_position") && soilView.dataJson.contains("33.4886") &&
        soilView.dataJson.contains("paddy_0101") && soilView.dataJson.contains("early_warning") &&
        soilView.dataJson.contains("NZ-017"))
    check("the assignment's record is accepted", samp.sync(null).refused.isEmpty())
    expectThrows<JingtuException.NotFound>("an unknown assignment is refused") {
        samp.createRecordForAssignment("0190a000-0000-7000-8000-000000000000")
    }

    // A soil sample's chain of custody: the sampler collects two samples and hands the batch
    // over; the county office's tablet, offline at the same time, confirms the batch received.
    // After both sync, each device holds one chain in the same order, verified intact.
    val soil2 = samp.createRecordForAssignment(asg)
    val both = listOf(soil.id, soil2.id)
    check("a sample's code is made offline from its point (NZ-017-T1)",
        samp.assignSampleCode(soil.id) == "NZ-017-T1")
    expectThrows<JingtuException.InvalidState>("a second sample of the point needs to be a duplicate") {
        samp.assignSampleCode(soil2.id)
    }
    samp.setField(soil2.id, "qc_type", text("field_duplicate"))
    check("a field duplicate gets its own code", samp.assignSampleCode(soil2.id) == "NZ-017-T1P")
    // Walking to the planned point: the way from each fix, and the offset check.
    val far = samp.plannedPointGuide(soil.id, 33.4886, 112.4322, 4.0)
    check("92.8 m away, walk west, an offset reason needed (${far.distanceM} m ${far.directionZh})",
        Math.abs(far.distanceM - 92.8) < 0.3 && far.directionZh == "西" && far.exceeded && far.accuracyOk == true)
    val near = samp.plannedPointGuide(soil.id, 33.4890, 112.4312, null)
    check("44.5 m north of it: walk south, within ${near.allowedM} m",
        near.directionZh == "南" && !near.exceeded && near.accuracyOk == null)
    expectThrows<JingtuException.InvalidInput>("a latitude of 91° is refused") {
        samp.plannedPointGuide(soil.id, 91.0, 112.0, null)
    }
    val labelSvg = samp.sampleLabelSvg(soil.id)
    check("the sample's label as SVG carries its code", labelSvg.startsWith("<svg") && labelSvg.contains(">NZ-017-T1</text>"))
    val labelPng = ImageIO.read(java.io.ByteArrayInputStream(samp.sampleLabelPng(soil2.id, 8)))
    check("the label as PNG for a label printer (${labelPng?.width} px)", labelPng != null && labelPng.width >= 200)
    expectThrows<JingtuException.InvalidInput>("a negative module size is refused") { samp.sampleLabelPng(soil.id, -1) }
    check("a label's text finds its sample offline", samp.findSample("NZ-017-T1P")?.id == soil2.id &&
        samp.findSample("NZ-017-T9") == null)
    // Each sample with its photos (the bag with its label, the sampling).
    for ((i, id) in both.withIndex()) {
        samp.addPhoto(id, cameraJpeg(60 + i), NewPhoto("sample_bag", null, null, null, null, null, null, null))
        samp.addPhoto(id, cameraJpeg(70 + i), NewPhoto("sampling", null, null, null, null, null, null, null))
    }
    check("both samples carry their photos", both.all { samp.view(it).photos.size == 2 })
    samp.addCustodyEvents(both, CustodyStep.Collected(""))
    check("the collections are accepted", samp.sync(null).refused.isEmpty())
    sup.sync(null)
    val sent = samp.addCustodyEvents(both, CustodyStep.HandedOver(HandOver(
        batch = "JJ-2024-01", fromOrg = "云阳镇采样组", fromPerson = "samp_yy", toOrg = "县制备室",
        toPerson = "sup_nz", samplesExpected = 2, packagingIntact = true, sealIntact = true,
        labelLegible = true, sealNo = "F-0031", weightKg = 2.3, coldChain = false,
        temperatureC = null, anomalies = "")))
    check("the hand-over is recorded for both samples", sent.size == 2 && sent[0].labelZh == "交接")
    check("the receiver finds each sample by the code on its label",
        sup.findSample("NZ-017-T1")?.id == soil.id && sup.findSample("NZ-017-T1P")?.id == soil2.id)
    val receipts = sup.addCustodyEvents(both, CustodyStep.Received(Receipt(
        batch = "JJ-2024-01", samplesReceived = 2, packagingIntact = true, sealIntact = true,
        labelLegible = true, temperatureC = null, scanned = true, anomalies = "")))
    check("the receipt is recorded offline", receipts.size == 2 && receipts[0].stepName == "received")
    check("the receipt is accepted", sup.sync(null).refused.isEmpty())
    check("the hand-over is accepted", samp.sync(null).refused.isEmpty())
    sup.sync(null)
    val onPhone = samp.custody(soil.id)
    val onTablet = sup.custody(soil.id)
    check("one chain in causal order on both devices (${onPhone.events.map { it.stepName }})",
        onPhone.events.map { it.stepName } == listOf("collected", "handed_over", "received") &&
        onTablet.events.map { it.id } == onPhone.events.map { it.id })
    check("the chain verifies intact (${onPhone.findings})", onPhone.intact && onPhone.findings.isEmpty())
    check("every event is signed, the sampler's by the platform key (${sampKey.signatures} signatures)",
        onTablet.events.all { it.signed } && sampKey.signatures >= 4 &&
        onTablet.events.filter { it.by == "samp_yy" }.all { it.key == hexOf(sampKey.publicKey()) } &&
        onTablet.events.filter { it.by == "sup_nz" }.all { it.key == sup.custodyPublicKey() })
    // The hand-over sheet and its quality control: one routine sample and its field duplicate,
    // no blind duplicate, no lab duplicate yet, no reference material.
    var batchSteps = 0L
    val batch = sup.handOverBatch("JJ-2024-01", object : ProgressListener {
        override fun onProgress(phase: String, done: ULong, total: ULong): Boolean {
            batchSteps = done.toLong(); return true
        }
    })
    val qcOf = { item: String -> batch.qc.checks.first { it.item == item } }
    check("the batch sheet lists both samples, handed over and received (${batch.samples.map { it.sampleCode }})",
        batch.samples.map { it.sampleCode } == listOf("NZ-017-T1", "NZ-017-T1P") &&
        batch.samples.all { it.handedOver?.stepName == "handed_over" && it.received?.stepName == "received" } &&
        batchSteps >= 2)
    check("its QC: the field duplicate is there, a blind duplicate and a reference material are not " +
        "(${batch.qc.checks.map { "${it.item}=${it.count}/${it.required} ${it.status}" }})",
        batch.qc.routine == 1 && qcOf("field_duplicate").status == QcStatus.MET &&
        qcOf("blind_duplicate").status == QcStatus.SHORT && qcOf("crm").required == 1 &&
        qcOf("blind_duplicate").labelZh == "密码平行样" && !batch.qc.met)
    expectThrows<JingtuException.NotFound>("a batch no sample here is in") { sup.handOverBatch("JJ-1999-99", null) }
    check("hand-over and receipt, written at once, both follow the collection",
        onPhone.events[1].prev == onPhone.events[0].id && onPhone.events[2].prev == onPhone.events[0].id)
    val next = samp.addCustodyEvent(soil.id, CustodyStep.AirDried(1_720_000_000_000, 1_720_200_000_000, 1150.0, 980.0))
    check("the next step follows the receipt", next.prev == onPhone.events[2].id)
    val grind = expectThrows<JingtuException.InvalidInput>("a fine grind through an 80 mesh sieve is refused") {
        sup.addCustodyEvent(soil.id, CustodyStep.FineGround(80))
    }
    check("the refusal names the field (${grind?.field})", grind?.field == "custody.mesh")
    expectThrows<JingtuException.InvalidInput>("a negative count is refused") {
        sup.addCustodyEvent(soil.id, CustodyStep.Split(-2))
    }
    val seal = sup.addCustodyEvent(soil2.id, CustodyStep.Retained(320.0, "2026-08-31", "留样室 A-3"))
    check("a small retained sample is kept with its warning",
        seal.issues.any { it.code == "retained_weight" } &&
        sup.custody(soil2.id).findings.any { it.code == "retained_weight" })
    expectThrows<JingtuException.InvalidState>("a village inspection keeps no custody") {
        yy.addCustodyEvent(rv.id, CustodyStep.Collected(""))
    }
    check("the preparation steps are accepted", samp.sync(null).refused.isEmpty() && sup.sync(null).refused.isEmpty())

    // The county office hands the sample on to the preparation room of another township: its
    // preparer, named at the hand-over, receives it on a third device, logs the preparation
    // and hands it in to the lab under a blind code.
    admin(serverBin, dataDir, "user", "create", "prep_hl", "--role", "sampler", "--org", "411321103000")
    val prep = FieldCore.open(tmp.resolve("people-prep").toString(), null)
    prep.enroll(url, admin(serverBin, dataDir, "enroll-code", "prep_hl"), null, null)
    prep.sync(null)
    check("the preparer holds no sample yet", prep.list(all).isEmpty())
    sup.addCustodyEvent(soil.id, CustodyStep.HandedOver(HandOver(
        batch = "JJ-2024-02", fromOrg = "县制备室", fromPerson = "sup_nz", toOrg = "皇路店镇制备室",
        toPerson = "prep_hl", samplesExpected = 1, packagingIntact = true, sealIntact = true,
        labelLegible = true, sealNo = "F-0032", weightKg = 1.0, coldChain = false,
        temperatureC = null, anomalies = "")))
    check("the hand-over to the preparer is accepted", sup.sync(null).refused.isEmpty())
    val prepGot = prep.sync(null)
    val scannedHere = prep.findSample("NZ-017-T1")
    check("the sample handed to the preparer reaches their device, and only it (${prepGot.recordsReceived})",
        scannedHere?.id == soil.id && prep.list(all).map { it.id } == listOf(soil.id))
    prep.addCustodyEvent(soil.id, CustodyStep.Received(Receipt(
        batch = "JJ-2024-02", samplesReceived = 1, packagingIntact = true, sealIntact = true,
        labelLegible = true, temperatureC = null, scanned = true, anomalies = "")))
    prep.addCustodyEvent(soil.id, CustodyStep.CoarseGround(10))
    prep.addCustodyEvent(soil.id, CustodyStep.FineGround(100))
    prep.addCustodyEvent(soil.id, CustodyStep.LabHandIn("MB-0417", "县检测中心"))
    check("the preparer's steps are accepted", prep.sync(null).refused.isEmpty())
    prep.setField(soil.id, "notes", text("制备室改了采样记录"))
    val notTheirs = prep.sync(null).refused.firstOrNull()
    check("anything else of the sample is not the preparer's (${notTheirs?.rule})",
        notTheirs?.rule == "custody_holder")

    // The lab's LIMS enrolls once as the lab user and enters the results under the blind
    // code; the class follows on the sampler's phone.
    admin(serverBin, dataDir, "user", "create", "lab_nz", "--role", "lab", "--org", "411321000000")
    val http = java.net.http.HttpClient.newHttpClient()
    fun postJson(path: String, body: String, token: String?): Pair<Int, String> {
        val b = java.net.http.HttpRequest.newBuilder(java.net.URI.create(url.trimEnd('/') + path))
            .header("content-type", "application/json")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body))
        if (token != null) b.header("authorization", "Bearer $token")
        val r = http.send(b.build(), java.net.http.HttpResponse.BodyHandlers.ofString())
        return r.statusCode() to r.body()
    }
    val limsCode = admin(serverBin, dataDir, "enroll-code", "lab_nz")
    val (enrolled, enrollBody) = postJson("/v1/enroll",
        "{\"code\":\"$limsCode\",\"device_id\":\"0123456789abcdef0123456789abcdef\",\"device_label\":\"LIMS\"}", null)
    val limsToken = Regex("\"token\"\\s*:\\s*\"([^\"]+)\"").find(enrollBody)?.groupValues?.get(1)
    check("the LIMS enrolls as the lab user ($enrolled)", enrolled == 200 && limsToken != null)
    val (entered, answer) = postJson("/v1/lab/samples/MB-0417/results",
        "{\"cd\":0.8,\"hg\":0.12,\"as\":12,\"pb\":40,\"cr\":90,\"ph\":6.8,\"lab_duplicate\":true}", limsToken)
    check("the lab's results are taken under the blind code ($entered)",
        entered == 200 && answer.contains("safe_use") && !answer.contains(soil.id))
    samp.sync(null)
    val classified = samp.view(soil.id)
    check("the class shows on the sampler's phone (${classified.computedJson.take(120)})",
        classified.computedJson.contains("safe_use") && classified.dataJson.contains("0.8"))
    val chainNow = samp.custody(soil.id)
    check("the whole chain verifies (${chainNow.events.map { it.stepName }})",
        chainNow.intact && chainNow.events.map { it.stepName }.containsAll(
            listOf("collected", "handed_over", "received", "air_dried", "coarse_ground", "fine_ground", "lab_hand_in")))
    // A tampered phone: its events signed by a key it did not enroll with are refused by the
    // server, and the chain everyone else holds stays as it was.
    samp.setCustodySigner(PlatformKey())
    val forged = samp.addCustodyEvent(soil.id, CustodyStep.CoarseGround(10))
    val tampered = samp.sync(null).refused.firstOrNull { it.recordId == soil.id }
    check("an event signed with another key is refused (${tampered?.rule})",
        tampered?.code == "forbidden" && tampered.rule == "custody_signature" &&
        tampered.path == "custody/${forged.id}")
    sup.sync(null)
    check("the tablet never sees the forged event", sup.custody(soil.id).events.none { it.id == forged.id })

    // A record in another township is refused; the app sees why, and nothing is lost.
    val foreign = yy.createRecord("village_inspection", NewRecordPlace("411321103201", "东岗村", null, null))
    yy.setField(foreign.id, "village_name", text("东岗村"))
    yy.addPhoto(foreign.id, cameraJpeg(21), NewPhoto("before", null, null, null, null, null, null, null))
    val refusedSync = yy.sync(null)
    check("its photo is not taken either, and stays (${refusedSync.photosRefused})",
        refusedSync.photosRefused == 1UL && yy.syncStatus().photosPending >= 1UL &&
        refusedSync.photosDeferred == 0UL)
    val refusal = refusedSync.refused.firstOrNull { it.recordId == foreign.id }
    check("the push of another township's record is refused as out of scope", refusal?.code == "out_of_scope")
    val kept = yy.refusedEdits(foreign.id, false)
    check("the refused edit is kept with its reason",
        kept.size == 1 && kept[0].code == "out_of_scope" && kept[0].message.isNotEmpty() &&
        kept[0].localJson.contains("东岗村"))
    check("the record shows as refused and keeps its values",
        yy.recordSyncState(foreign.id).state == "refused" && yy.view(foreign.id).name == "东岗村")
    check("a refused record is not pushed again until edited", yy.sync(null).refused.isEmpty())
    check("it is counted as held back, not as waiting (${yy.syncStatus()})",
        yy.syncStatus().recordsHeld == 1UL && yy.recordSyncState(foreign.id).held)
    yy.dismissRefusedEdit(kept[0].id)
    check("a dismissed refused edit leaves the list but stays in the store",
        yy.refusedEdits(foreign.id, false).isEmpty() && yy.refusedEdits(foreign.id, true).size == 1)
    check("the record shows as held", yy.recordSyncState(foreign.id).state == "held")
    expectThrows<JingtuException.InvalidState>("only a held record is discarded") { yy.discardRecord(r1.id) }
    yy.discardRecord(foreign.id)
    check("a discarded record leaves the device, its edits stay",
        yy.list(all).none { it.id == foreign.id } && yy.syncStatus().recordsHeld == 0UL &&
        yy.refusedEdits(foreign.id, true).size == 1)
    check("nothing is parked", yy.parkedRecords().isEmpty())

    // A new template version published on the server reaches the inspectors' devices at their
    // next sync, without an app update; the sampler's role does not capture it.
    check("the app does not know village_inspection.v3 yet",
        yy.templates().none { it.id == "village_inspection.v3" })
    val v3 = tmp.resolve("village_inspection.v3.json")
    Files.writeString(v3, yy.templateJson("village_inspection.v2")
        .replace("\"version\":2", "\"version\":3")
        .replace("农村环境整治检查", "农村环境整治检查（第三版）"))
    val published = admin(serverBin, dataDir, "template", "publish", v3.toString())
    check("the server publishes it ($published)", published.contains("village_inspection.v3"))
    val got = yy.sync(null)
    check("the inspector's device receives it (${got.templatesReceived})",
        got.templatesReceived == 1UL && yy.templates().any { it.id == "village_inspection.v3" })
    val newer = yy.createRecord("village_inspection", NewRecordPlace("411321102206", "杨树沟村", null, null))
    check("new records use the newest version (${yy.view(newer.id).templateId})",
        yy.view(newer.id).templateId == "village_inspection.v3")
    check("records of v2 still open", yy.view(r1.id).templateId == "village_inspection.v2")
    check("nothing more arrives the next time", yy.sync(null).templatesReceived == 0UL)
    val sampAfter = samp.sync(null)
    check("the sampler's device does not receive an inspection template",
        sampAfter.templatesReceived == 0UL && samp.templates().none { it.id == "village_inspection.v3" })

    // Revoking the device shuts it out at its next request.
    val devices = admin(serverBin, dataDir, "devices", "--user", "insp_hl", "--json")
    val deviceId = Regex("\"id\"\\s*:\\s*(\\d+)").find(devices)?.groupValues?.get(1)
    check("the device is listed ($deviceId)", deviceId != null)
    if (deviceId != null) {
        admin(serverBin, dataDir, "revoke-device", deviceId)
        expectThrows<JingtuException.Unauthorized>("a revoked device is refused") { hl.sync(null) }
    }
    yy.close(); hl.close(); samp.close(); sup.close(); again.close(); prep.close()
    val reopened = FieldCore.open(tmp.resolve("people-yy").toString(), null)
    check("a received template is kept in the store",
        reopened.templates().any { it.id == "village_inspection.v2" })
    reopened.close()
}

// A water body check filled and submitted with the photos its template asks for.
fun waterBodyCheck(core: FieldCore, at: String, type: String, stage: String, colour: String): String {
    val id = core.createRecord("water_body_check", null).id
    core.setField(id, "body_code", text("411321102206001"))
    core.setField(id, "body_name", text("杨树沟村东坑塘"))
    core.setField(id, "body_type", text("pond"))
    core.setField(id, "check_type", text(type))
    core.setField(id, "admin_code", text("411321102206"))
    core.setField(id, "checked_at", text(at))
    core.setField(id, "location", FieldValue.Json("{\"lat\":33.488612,\"lon\":112.431275}"))
    core.setField(id, "sensory", FieldValue.Json("{\"color\":\"$colour\",\"odor\":\"none\"}"))
    core.setField(id, "lifecycle", text(stage))
    for ((n, m) in core.view(id).missingPhotos.withIndex()) {
        core.addPhoto(id, cameraJpeg(50 + n, 320, 240), NewPhoto(m.tag, null, null, null, null, null, null, null))
    }
    return id
}

fun ledgerSection(core: FieldCore) {
    val never = object : ProgressListener {
        override fun onProgress(phase: String, done: ULong, total: ULong) = true
    }
    core.submit(waterBodyCheck(core, "2024-03-01T10:00:00+08:00", "screening", "identified", "black"))
    core.submit(waterBodyCheck(core, "2024-05-01T10:00:00+08:00", "recheck", "under_treatment", "blackish"))
    val recheck = core.view(waterBodyCheck(core, "2024-08-01T10:00:00+08:00", "recheck", "completed", "normal"))
    check("a re-check carries before and after photos",
        recheck.photos.any { it.tag == "before" } && recheck.photos.any { it.tag == "after" })
    core.submit(recheck.id)
    core.submit(waterBodyCheck(core, "2024-10-01T10:00:00+08:00", "recheck", "accepted", "normal"))
    var body = core.waterBodyLedger(never).single()
    check("the ledger shows the body accepted (${body.stage})",
        body.stage == BodyStage.ACCEPTED && body.checks.size == 4 && body.problems.isEmpty())
    // Greenish water the next spring: 返黑返臭.
    val relapse = waterBodyCheck(core, "2025-04-01T10:00:00+08:00", "recheck", "accepted", "greenish")
    val blocked = expectThrows<JingtuException.SubmitBlocked>("black-odorous again cannot stay accepted") {
        core.submit(relapse)
    }
    check("the refusal names the stage", blocked?.issues?.any { it.path == "lifecycle" } == true)
    core.setField(relapse, "lifecycle", text("relapsed"))
    core.submit(relapse)
    body = core.waterBodyLedger(null).single()
    check("the body is flagged relapsed",
        body.stage == BodyStage.RELAPSED && body.relapsed && body.relapses == 1 &&
        body.status == BodyStatus.BLACK_ODOROUS)

    // A sewage facility of 180 t/day inspected in Q1 and monitored in H1: on 15 August 2024
    // its second quarter is missed.
    for ((type, at) in listOf("quarterly_inspection" to "2024-03-12T09:00:00+08:00",
                              "half_year_monitoring" to "2024-06-05T09:00:00+08:00")) {
        val id = core.createRecord("sewage_facility_inspection", null).id
        core.setField(id, "facility_name", text("云阳镇污水处理站"))
        core.setField(id, "facility_code", text("WS-411321102"))
        core.setField(id, "admin_code", text("411321102000"))
        core.setField(id, "design_capacity_t_d", num(120.0))
        core.setField(id, "actual_flow_t_d", num(180.0))
        core.setField(id, "inspection_type", text(type))
        core.setField(id, "inspected_at", text(at))
        core.setField(id, "facility_status", text("normal"))
        core.appendItem(id, "inspectors", text("王建军"))
        core.setField(id, "online_monitoring", FieldValue.Json("{\"flow_meter\":true,\"video\":true}"))
        if (type == "half_year_monitoring") {
            core.setField(id, "inlet", FieldValue.Json("{\"cod_mg_l\":250,\"nh3n_mg_l\":30,\"sampled_at\":\"2024-06-05T09:20:00+08:00\"}"))
            core.setField(id, "outlet", FieldValue.Json("{\"cod_mg_l\":75,\"nh3n_mg_l\":5,\"sampled_at\":\"2024-06-05T09:40:00+08:00\"}"))
            check("an outlet above its limit is a warning naming DB41/1820-2019",
                core.view(id).issues.any { it.path == "outlet.cod_mg_l" && it.severity == Severity.WARNING &&
                    it.messageZh.contains("DB41/1820-2019") })
        }
        core.submit(id)
    }
    val aug15 = java.time.ZonedDateTime.of(2024, 8, 15, 10, 0, 0, 0, java.time.ZoneId.of("Asia/Shanghai"))
        .toInstant().toEpochMilli()
    val facility = core.sewageFacilitySchedule(2024, aug15, never).single()
    check("the facility's missed quarter is listed (${facility.missed})",
        facility.missed == listOf("2024-Q2") && facility.scaleTD == 180.0 &&
        facility.quarters[2].state == PeriodState.DUE && facility.halves[0].state == PeriodState.DONE)
    check("its online monitoring is in place", facility.onlineDuty?.met == true &&
        facility.onlineDuty?.kind == OnlineDutyKind.FLOW_AND_VIDEO)
}

fun main() {
    val tmp = Files.createTempDirectory("jingtu-kotlin")
    val a = FieldCore.open(tmp.resolve("phone-a").toString(), "张三")
    val b = FieldCore.open(tmp.resolve("phone-b").toString(), "李四")
    check("device ids differ", a.deviceId() != b.deviceId())
    check("user is kept", a.user() == "张三")

    // Templates
    val templates = a.templates()
    check("four templates listed", templates.map { it.kind }.containsAll(
        listOf("village_inspection", "water_body_check", "soil_sample", "sewage_facility_inspection")))
    check("labels in Chinese", templates.any { it.labelZh == "农村环境整治检查" })
    val items = checklistItems(a)
    check("checklist items read from the template (${items.size})", items.size >= 20)

    // A village inspection
    val rec = a.createRecord("village_inspection", NewRecordPlace("411321102", "杨树沟村", null, null))
    check("new record is a draft", rec.status == "draft")
    fillVillage(a, rec.id)
    for ((i, item) in items.withIndex()) {
        if (i == 0) a.setChecklistItem(rec.id, item, ItemResult.FAIL, "村口堆放生活垃圾")
        else a.setChecklistItem(rec.id, item, ItemResult.PASS, null)
    }
    var view = a.view(rec.id)
    check("view names the village", view.name == "杨树沟村")
    check("failed item keeps its issue text",
        view.values.any { it.path == "checklist.${items[0]}.issue" && it.value == text("村口堆放生活垃圾") })
    check("failed item without deadline/owner is an error",
        view.issues.any { it.path == "checklist.${items[0]}.deadline" && it.severity == Severity.ERROR })
    check("completion is high but not done (${view.completionPct})", view.completionPct > 90.0)
    check("computed rectification names the failed item", view.computedJson.contains(items[0]))

    // Invalid values raise InvalidInput naming the field
    val bad = expectThrows<JingtuException.InvalidInput>("a word for a year is refused") {
        a.setField(rec.id, "eval_year", text("二〇二四"))
    }
    check("the exception names the field", bad?.field == "eval_year")
    expectThrows<JingtuException.InvalidInput>("a rate over 100 is refused") {
        a.setField(rec.id, "indicators.sewage_treatment_rate_pct", num(120.0))
    }
    expectThrows<JingtuException.InvalidInput>("an unknown field is refused") {
        a.setField(rec.id, "no_such_field", int(1))
    }
    expectThrows<JingtuException.NotFound>("an unknown record is not found") { a.view("nope") }

    // Submit: blocked, then allowed
    val blocked = expectThrows<JingtuException.SubmitBlocked>("submit with errors is blocked") { a.submit(rec.id) }
    check("blocking issues name the deadline", blocked?.issues?.any { it.path.endsWith(".deadline") } == true)
    a.setField(rec.id, "checklist.${items[0]}.deadline", text("2024-08-31"))
    a.setField(rec.id, "checklist.${items[0]}.owner", text("村委会"))
    view = a.view(rec.id)
    check("a failed item without a photo is an error",
        view.issues.any { it.path == "checklist.${items[0]}.photos" && it.severity == Severity.ERROR })
    a.addPhoto(rec.id, cameraJpeg(40),
        NewPhoto("before", "checklist.${items[0]}", "村口垃圾", null, null, null, null, null))
    view = a.view(rec.id)
    check("no errors left", view.issues.none { it.severity == Severity.ERROR })

    // Export to the second phone; a listener sees progress
    val progress = mutableListOf<Pair<ULong, ULong>>()
    val listener = object : ProgressListener {
        override fun onProgress(phase: String, done: ULong, total: ULong): Boolean {
            synchronized(progress) { progress.add(done to total) }
            return true
        }
    }
    val other = a.createRecord("water_body_check", null)
    val outcomes = b.importRecords(listOf(a.exportRecord(rec.id), a.exportRecord(other.id)), listener)
    check("two records imported", outcomes.size == 2 && outcomes.all { it.created })
    check("listener saw 0/2 .. 2/2", progress.first() == (0UL to 2UL) && progress.last() == (2UL to 2UL))
    check("phone B sees the same data", b.view(rec.id).dataJson == a.view(rec.id).dataJson)
    val cancel = object : ProgressListener {
        override fun onProgress(phase: String, done: ULong, total: ULong) = false
    }
    expectThrows<JingtuException.Cancelled>("a listener can cancel") {
        b.importRecords(listOf(a.exportRecord(rec.id)), cancel)
    }

    // A conflicting edit on both phones, merged both ways, then resolved
    a.setField(rec.id, "township", text("城郊乡"))
    b.setField(rec.id, "township", text("皇路店镇"))
    a.importRecord(b.exportRecord(rec.id))
    b.importRecord(a.exportRecord(rec.id))
    val conflicts = a.conflicts(rec.id)
    check("conflict on township with two values",
        conflicts.size == 1 && conflicts[0].path == "township" && conflicts[0].values.size == 2)
    check("conflict values name both devices",
        conflicts[0].values.map { it.device }.toSet() == setOf(a.deviceId(), b.deviceId()))
    check("conflict values name both people",
        conflicts[0].values.mapNotNull { it.author }.toSet() == setOf("张三", "李四"))
    expectThrows<JingtuException.InvalidState>("submit with a conflict is refused") { a.submit(rec.id) }
    a.resolveConflict(rec.id, "township", text("云阳镇"))
    b.importRecord(a.exportRecord(rec.id))
    check("conflict gone on A", a.conflicts(rec.id).isEmpty())
    check("conflict gone on B", b.conflicts(rec.id).isEmpty())
    check("both phones agree", a.view(rec.id).dataJson == b.view(rec.id).dataJson)

    // Submit now works; the record is locked for further edits
    val submitted = a.submit(rec.id)
    check("submitted", submitted.status == "submitted")
    expectThrows<JingtuException.InvalidState>("a submitted record cannot be edited") {
        a.setField(rec.id, "township", text("x"))
    }
    val history = a.history(rec.id)
    check("history names both people", history.mapNotNull { it.author }.toSet().containsAll(setOf("张三", "李四")))
    check("history shows the submit", history.any { it.action == "submitted" })

    // Evidence photos
    photoSection(a, tmp)

    // The county ledgers on the phone
    ledgerSection(a)

    // Sync through a real server
    syncSection(tmp)

    // Several threads at once on one FieldCore
    val pool = Executors.newFixedThreadPool(8)
    val done = AtomicInteger()
    val errors = AtomicInteger()
    repeat(8) { t ->
        pool.submit {
            try {
                repeat(10) { i ->
                    val r = a.createRecord("soil_sample", null)
                    a.setField(r.id, "sample_code", text("P$t-$i-T1"))
                    a.setField(r.id, "fresh_weight_kg", num(1.2))
                    a.view(r.id)
                    a.list(RecordFilter(null, null, null, null, null, null, null))
                    done.incrementAndGet()
                }
            } catch (e: Throwable) {
                println("thread $t: $e")
                errors.incrementAndGet()
            }
        }
    }
    pool.shutdown()
    pool.awaitTermination(120, TimeUnit.SECONDS)
    check("80 records made from 8 threads without error", done.get() == 80 && errors.get() == 0)
    val soil = a.list(RecordFilter("soil_sample", null, null, null, null, null, null))
    check("list finds the 80 soil samples (and the photo one)", soil.size == 81)
    check("search by name", a.list(RecordFilter(null, null, null, null, "P3-7", null, null)).size == 1)

    // A second open of a store in use by this process is refused with StoreLocked
    expectThrows<JingtuException.StoreLocked>("the store is locked while open") {
        FieldCore.open(tmp.resolve("phone-a").toString(), null)
    }

    a.close()
    b.close()
    println("$checks checks, $failures failed")
    println("${checks - failures} passed, $failures failed")
    exitProcess(if (failures == 0) 0 else 1)
}
