# Debian packages (CPack DEB, one package per install component):
#   fieldsync-agent   /usr/bin/fieldsync-agent, fieldsync-agent(1), /etc/fieldsync/agent.conf,
#                     fieldsync-agent.service
#   fieldsync-server  /usr/sbin/fieldsync-server, fieldsync-server(8), /etc/fieldsync/server.conf,
#                     fieldsync-server.service
#   fieldsync-common  what both share: the system user `fieldsync`, /var/lib/fieldsync (0700),
#                     /etc/fieldsync, fieldsync.conf(5) (both packages installing that page
#                     would conflict on the file)
# Built by packaging/build-debs.sh; packaging/README.md says what lintian still reports.
# The binaries' install() rules are beside their targets (agent/, server/).
#
# Files other parts of the tree add later (man pages, config files, units) are found by
# CONFIGURE_DEPENDS globs, so a new one is packaged at the next build without editing this.


set(FIELDSYNC_DEB_REVISION 1 CACHE STRING "Debian revision of the packages (VERSION-REVISION)")
set(FIELDSYNC_DEB_MAINTAINER "fieldsync maintainers <maintainers@fieldsync.example.org>"
	CACHE STRING "Maintainer field of the packages")
set(fieldsync_deb_version "${PROJECT_VERSION}-${FIELDSYNC_DEB_REVISION}")
set(pkg_src ${CMAKE_SOURCE_DIR}/packaging)
set(pkg_bin ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${pkg_bin})

# The package (component) a file of the tree belongs to, by its name: fieldsync-agent* and
# agent.* to the agent, fieldsync-server* and server.* to the server, the rest to common.
function(fieldsync_component out name)
	if(name MATCHES "^(fieldsync-)?agent[.-]")
		set(${out} agent PARENT_SCOPE)
	elseif(name MATCHES "^(fieldsync-)?server[.-]")
		set(${out} server PARENT_SCOPE)
	else()
		set(${out} common PARENT_SCOPE)
	endif()
endfunction()

# ---- man pages: docs/man/NAME.SECTION, gzip -9n (no name or time stamp: reproducible) ---------
file(GLOB fieldsync_man_pages CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/*.[1-8])
set(fieldsync_man_gz)
foreach(page ${fieldsync_man_pages})
	get_filename_component(name ${page} NAME)
	string(REGEX REPLACE "^.*\\.([1-8])$" "\\1" section ${name})
	fieldsync_component(comp ${name})
	set(gz ${pkg_bin}/man/${name}.gz)
	add_custom_command(OUTPUT ${gz}
		COMMAND ${CMAKE_COMMAND} -E make_directory ${pkg_bin}/man
		COMMAND gzip -9nc ${page} > ${gz}
		DEPENDS ${page}
		COMMENT "Compressing ${name}")
	list(APPEND fieldsync_man_gz ${gz})
	install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${comp})
endforeach()
add_custom_target(fieldsync_man ALL DEPENDS ${fieldsync_man_gz})

# ---- configuration: packaging/conf/*.conf into /etc/fieldsync, each a conffile ------------------
file(GLOB fieldsync_conf_files CONFIGURE_DEPENDS ${pkg_src}/conf/*.conf)
set(fieldsync_conffiles_agent)
set(fieldsync_conffiles_server)
set(fieldsync_conffiles_common)
foreach(conf ${fieldsync_conf_files})
	get_filename_component(name ${conf} NAME)
	fieldsync_component(comp ${name})
	install(FILES ${conf} DESTINATION /etc/fieldsync COMPONENT ${comp})
	string(APPEND fieldsync_conffiles_${comp} "/etc/fieldsync/${name}\n")
endforeach()
# /etc/fieldsync itself, even before any config file exists (fieldsync.conf(5) names it)
install(DIRECTORY DESTINATION /etc/fieldsync COMPONENT common)
# /var/lib/fieldsync (0700, the service user's): made by common's postinst from this file,
# and again by systemd at boot should it have gone
install(FILES ${pkg_src}/debian/fieldsync.tmpfiles DESTINATION lib/tmpfiles.d
	RENAME fieldsync.conf COMPONENT common)

# ---- systemd units: packaging/systemd/*.{service,socket,timer} ---------------------------------
pkg_get_variable(fieldsync_unitdir systemd systemdsystemunitdir)
if(NOT fieldsync_unitdir)
	set(fieldsync_unitdir /lib/systemd/system) # Debian 12's systemd.pc says so
endif()
file(GLOB fieldsync_units CONFIGURE_DEPENDS ${pkg_src}/systemd/*.service ${pkg_src}/systemd/*.socket
	${pkg_src}/systemd/*.timer)
set(fieldsync_units_agent)
set(fieldsync_units_server)
set(fieldsync_units_common)
foreach(unit ${fieldsync_units})
	get_filename_component(name ${unit} NAME)
	fieldsync_component(comp ${name})
	install(FILES ${unit} DESTINATION ${fieldsync_unitdir} COMPONENT ${comp})
	list(APPEND fieldsync_units_${comp} ${name})
endforeach()

# ---- /usr/share/doc/<package>: copyright (DEP-5) and changelog.Debian.gz ------------------------
set(fieldsync_changelog_gz ${pkg_bin}/changelog.Debian.gz)
add_custom_command(OUTPUT ${fieldsync_changelog_gz}
	COMMAND gzip -9nc ${pkg_src}/debian/changelog > ${fieldsync_changelog_gz}
	DEPENDS ${pkg_src}/debian/changelog
	COMMENT "Compressing the Debian changelog")
add_custom_target(fieldsync_changelog ALL DEPENDS ${fieldsync_changelog_gz})
# the changelog's newest entry must be the version being packaged (lintian checks it too)
file(STRINGS ${pkg_src}/debian/changelog fieldsync_changelog_head LIMIT_COUNT 1)
if(NOT fieldsync_changelog_head MATCHES "^fieldsync \\(${fieldsync_deb_version}\\) ")
	message(FATAL_ERROR "packaging/debian/changelog: the newest entry is not version "
		"${fieldsync_deb_version}: ${fieldsync_changelog_head}")
endif()

# ---- maintainer scripts, per package, from packaging/debian/*.in --------------------------------
foreach(comp agent server common)
	set(pkg fieldsync-${comp})
	string(TOUPPER ${comp} COMP)
	set(extra)
	# the units this package ships, for the scripts' systemd steps (may be empty)
	list(JOIN fieldsync_units_${comp} " " FIELDSYNC_UNITS)
	set(FIELDSYNC_PACKAGE ${pkg})
	foreach(script postinst prerm postrm)
		# the package's own script, else the units' steps if it ships units, else none
		set(tmpl ${pkg_src}/debian/${comp}.${script}.in)
		if(NOT EXISTS ${tmpl})
			set(tmpl ${pkg_src}/debian/units.${script}.in)
			if(NOT fieldsync_units_${comp})
				file(REMOVE ${pkg_bin}/${comp}/${script})
				continue()
			endif()
		endif()
		configure_file(${tmpl} ${pkg_bin}/${comp}/${script} @ONLY
			FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
				WORLD_READ WORLD_EXECUTE)
		list(APPEND extra ${pkg_bin}/${comp}/${script})
	endforeach()
	if(fieldsync_conffiles_${comp})
		file(WRITE ${pkg_bin}/${comp}/conffiles "${fieldsync_conffiles_${comp}}")
		list(APPEND extra ${pkg_bin}/${comp}/conffiles)
	else()
		file(REMOVE ${pkg_bin}/${comp}/conffiles)
	endif()
	set(CPACK_DEBIAN_${COMP}_PACKAGE_CONTROL_EXTRA ${extra})
	install(FILES ${pkg_src}/debian/copyright ${fieldsync_changelog_gz}
		DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
endforeach()

# ---- libraries the agent loads with dlopen() (agent/net.c, agent/web.c) ------------------------
# dpkg-shlibdeps cannot see them, so their dependency is written from the same shlibs
# entry dpkg-shlibdeps would have used had the agent linked them.
function(fieldsync_shlibs_depends out package soname)
	execute_process(COMMAND dpkg-query --control-show ${package} shlibs
		OUTPUT_VARIABLE shlibs RESULT_VARIABLE rc ERROR_QUIET)
	string(REGEX MATCH "(^|\n)${soname} ([^\n]+)" line "${shlibs}")
	if(NOT rc EQUAL 0 OR NOT line)
		message(WARNING "packaging: no shlibs entry for ${soname} in ${package}; "
			"the agent package depends on ${package} without a version")
		set(${out} ${package} PARENT_SCOPE)
		return()
	endif()
	string(REGEX REPLACE "^\n?${soname} +[^ ]+ +" "" dep "${line}")
	set(${out} "${dep}" PARENT_SCOPE)
endfunction()
fieldsync_shlibs_depends(fieldsync_dep_curl libcurl4 libcurl)
fieldsync_shlibs_depends(fieldsync_dep_mhd libmicrohttpd12 libmicrohttpd)

# ---- CPack ---------------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fieldsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${FIELDSYNC_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent server common)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
	GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${FIELDSYNC_DEB_REVISION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${FIELDSYNC_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME fieldsync-agent)
set(CPACK_DEBIAN_SERVER_PACKAGE_NAME fieldsync-server)
set(CPACK_DEBIAN_COMMON_PACKAGE_NAME fieldsync-common)
set(CPACK_DEBIAN_COMMON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_COMMON_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_COMMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "${fieldsync_dep_curl}, ${fieldsync_dep_mhd}")
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_AGENT_DEPENDS common)
set(CPACK_COMPONENT_SERVER_DEPENDS common)

# Debian descriptions: a synopsis line, then the extended text (CPack indents it)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "secure field-office sync appliance - field device
The field-office program of fieldsync: case work kept in one encrypted
SQLCipher database per device, fully usable offline, every edit attributed
and every access recorded in a tamper-evident audit trail.  Syncs signed
change sets with the HQ server over mutual TLS, merges concurrent edits
without loss, and serves a local web interface on the loopback address.")
set(CPACK_DEBIAN_SERVER_DESCRIPTION "secure field-office sync appliance - HQ hub
The HQ server of fieldsync: the organisation's certificate authority,
one-time enrollment of field devices, and a mutual-TLS service that checks,
merges and redistributes the offices' signed change sets and audit trails.
HQ staff list, search, edit, share and transfer cases and query every
office's audit trail.")
set(CPACK_DEBIAN_COMMON_DESCRIPTION "secure field-office sync appliance - common files
Files shared by the fieldsync agent and server packages: the system user
fieldsync, the state directory /var/lib/fieldsync, the configuration
directory /etc/fieldsync and the fieldsync.conf manual page.")

include(CPack)
